import { ConflictError, PowerState } from '@nubo/contracts';
import { PowerOp, planPowerOp } from './power-transitions';

const id = '2d7c1a8e-5b3f-4c6d-9e0f-1a2b3c4d5e6f';
const { Running, Paused, Shutdown, Crashed, Suspended, NoState } = PowerState;

describe('planPowerOp', () => {
  it.each<[PowerOp, PowerState, 'act' | 'noop' | 'conflict']>([
    ['stop', Running, 'act'],
    ['stop', Paused, 'act'],
    ['stop', Crashed, 'act'],
    ['stop', Suspended, 'act'],
    ['stop', Shutdown, 'noop'],
    ['start', Shutdown, 'act'],
    ['start', Running, 'noop'],
    ['start', Paused, 'noop'],
    ['start', Suspended, 'conflict'],
    ['start', Crashed, 'conflict'],
    ['reboot', Running, 'act'],
    ['reboot', Paused, 'act'],
    ['reboot', Crashed, 'act'],
    ['reboot', Shutdown, 'act'],
    ['reboot', Suspended, 'act'],
    ['pause', Running, 'act'],
    ['pause', Paused, 'noop'],
    ['pause', Shutdown, 'conflict'],
    ['pause', Suspended, 'conflict'],
    ['unpause', Paused, 'act'],
    ['unpause', Running, 'noop'],
    ['unpause', Shutdown, 'conflict'],
    ['suspend', Running, 'act'],
    ['suspend', Paused, 'act'],
    ['suspend', Suspended, 'noop'],
    ['suspend', Shutdown, 'conflict'],
    ['suspend', Crashed, 'conflict'],
    ['resume', Suspended, 'act'],
    ['resume', Shutdown, 'act'],
    ['resume', Running, 'noop'],
    ['resume', Crashed, 'conflict'],
    ['stop', NoState, 'conflict'],
  ])('%s from %s: %s', (op, state, expected) => {
    if (expected === 'conflict') {
      expect(() => planPowerOp(op, id, state)).toThrow(ConflictError);
      expect(() => planPowerOp(op, id, state)).toThrow(`cannot ${op} server ${id} while it is ${state}`);
    } else {
      expect(planPowerOp(op, id, state)).toBe(expected);
    }
  });
});
