import { TaskState, ValidationError, VmState } from '@nubo/contracts';
import { parseAction } from './server-actions';

describe('parseAction', () => {
  it.each([
    [{ 'os-stop': null }, 'stop', TaskState.PoweringOff, [VmState.Active, VmState.Error]],
    [{ 'os-start': null }, 'start', TaskState.PoweringOn, [VmState.Stopped]],
    [{ pause: null }, 'pause', TaskState.Pausing, [VmState.Active]],
    [{ unpause: null }, 'unpause', TaskState.Unpausing, [VmState.Paused]],
    [{ suspend: null }, 'suspend', TaskState.Suspending, [VmState.Active]],
    [{ resume: null }, 'resume', TaskState.Resuming, [VmState.Suspended]],
    [{ reboot: { type: 'SOFT' } }, 'reboot', TaskState.Rebooting, [VmState.Active]],
  ])('%j', (body, action, task, from) => {
    expect(parseAction(body)).toMatchObject({ action, task, from });
  });

  it('allows a hard reboot from every stable state but building', () => {
    expect(parseAction({ reboot: { type: 'HARD' } }).from).toEqual(
      expect.arrayContaining([VmState.Active, VmState.Stopped, VmState.Paused, VmState.Suspended, VmState.Error]),
    );
  });

  it.each([
    [{ 'os-fly': null }, 'action', /no such action: os-fly/],
    [{ reboot: {} }, 'type', /'type' must be one of/],
    [{ reboot: { type: 'SOFTLY' } }, 'type', /SOFTLY/],
    [{ pause: null, unpause: null }, 'body', /exactly one/],
    [[], 'body', /action object/],
  ])('refuses %j naming %s', (body, field, message) => {
    try {
      parseAction(body);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe(field);
      expect((error as ValidationError).message).toMatch(message);
    }
  });
});
