import { TaskState, ValidationError, VmState } from '@nubo/contracts';
import { validationFieldOf } from '@nubo/testing';
import { actionName, parseAction, parseConsoleOutput, parseCreateImage } from './server-actions';

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

describe('actionName', () => {
  it.each([
    [{ 'os-getConsoleOutput': {} }, 'os-getConsoleOutput'],
    [{ createImage: { name: 'x' } }, 'createImage'],
  ])('%j names %s', (body, name) => {
    expect(actionName(body)).toBe(name);
  });
});

describe('parseConsoleOutput', () => {
  it.each([
    [{}, {}],
    [{ length: null }, {}],
    [{ length: -1 }, {}],
    [{ length: '-1' }, {}],
    [{ length: 0 }, { lines: 0 }],
    [{ length: 5 }, { lines: 5 }],
    [{ length: '12' }, { lines: 12 }],
  ])('%j asks for %j', (action, expected) => {
    expect(parseConsoleOutput({ 'os-getConsoleOutput': action })).toEqual(expected);
  });

  it.each([
    [{ length: -2 }, 'length'],
    [{ length: '-2' }, 'length'],
    [{ length: 1.5 }, 'length'],
    [{ length: 'ten' }, 'length'],
    [{ length: true }, 'length'],
    [{ lines: 3 }, 'os-getConsoleOutput'],
    [null, 'os-getConsoleOutput'],
    ['all', 'os-getConsoleOutput'],
  ])('refuses %j naming %s', (action, field) => {
    expect(validationFieldOf(() => parseConsoleOutput({ 'os-getConsoleOutput': action }))).toBe(field);
  });
});

describe('parseCreateImage', () => {
  it('takes a name and string metadata', () => {
    expect(parseCreateImage({ createImage: { name: 'snap-1', metadata: { purpose: 'backup', 'os:distro': 'debian' } } })).toEqual({
      name: 'snap-1',
      metadata: { purpose: 'backup', 'os:distro': 'debian' },
    });
    expect(parseCreateImage({ createImage: { name: 'n' } })).toEqual({ name: 'n', metadata: {} });
  });

  it('keeps a metadata key named __proto__ as a plain key', () => {
    const body = JSON.parse('{"createImage": {"name": "n", "metadata": {"__proto__": "x"}}}');
    expect(Object.getOwnPropertyNames(parseCreateImage(body).metadata)).toEqual(['__proto__']);
  });

  it.each([
    [{}, 'name'],
    [{ name: '' }, 'name'],
    [{ name: 'x'.repeat(256) }, 'name'],
    [{ name: ' padded ' }, 'name'],
    [{ name: 7 }, 'name'],
    [{ name: 'n', metadata: { k: 1 } }, 'metadata'],
    [{ name: 'n', metadata: { k: 'v'.repeat(256) } }, 'metadata'],
    [{ name: 'n', metadata: { 'bad/key': 'v' } }, 'metadata'],
    [{ name: 'n', metadata: { visibility: 'public' } }, 'metadata'],
    [{ name: 'n', metadata: { os_glance_import_method: 'x' } }, 'metadata'],
    [{ name: 'n', metadata: [] }, 'metadata'],
    [{ name: 'n', extra: 1 }, 'createImage'],
    [null, 'createImage'],
  ])('refuses %j naming %s', (action, field) => {
    expect(validationFieldOf(() => parseCreateImage({ createImage: action }))).toBe(field);
  });
});
