import { InstanceExit, InstanceExitCause, PowerState, TaskState, VmState } from '@nubo/contracts';
import { PowerSyncDecision, changesVmState, decidePowerSync, latencyMs, novaFault } from './power-sync';

const now = new Date('2026-03-01T10:00:00.500Z');
const ctx = { hostId: 'nubo-h1', hostUp: true, now };
const exit = (cause: InstanceExitCause, detail = 'x'): InstanceExit => ({ cause, detail, at: '2026-03-01T10:00:00.000Z' });
const { Active, Paused, Stopped, Error: Err, Building, Suspended } = VmState;
const { Running, Shutdown, Crashed, NoState } = PowerState;

type Row = [string, VmState, TaskState | null, PowerState, PowerState, InstanceExit | undefined, PowerSyncDecision['kind'], string | null | undefined];

describe('decidePowerSync', () => {
  // prior vm_state, task_state, power_state x observed power state and exit cause -> outcome (and fault message)
  it.each<Row>([
    ['a running server, nothing new', Active, null, Running, Running, undefined, 'none', undefined],
    ['a guest power-off', Active, null, Running, Shutdown, exit('guest-shutdown'), 'shutoff', null],
    ['kill -9 of QEMU', Active, null, Running, Shutdown, exit('unexpected', 'killed by SIGKILL'), 'shutoff', 'QEMU exited unexpectedly: killed by SIGKILL'],
    ['a guest panic (QEMU gone)', Active, null, Running, Shutdown, exit('guest-panic', 'GUEST_PANICKED'), 'error', 'Guest panicked (GUEST_PANICKED)'],
    ['a guest panic (QEMU left crashed)', Active, null, Running, Crashed, undefined, 'error', 'Guest panicked (QEMU run state guest-panicked)'],
    ['a stop nobody asked for', Active, null, Running, Shutdown, exit('host-stop', 'stop (forced)'), 'shutoff', 'Stopped by its host: stop (forced)'],
    ['QEMU gone, cause unknown', Active, null, Running, Shutdown, undefined, 'shutoff', 'QEMU is not running on its host'],
    ['the instance missing on its host', Active, null, Running, NoState, undefined, 'shutoff', 'The instance is missing on its host'],
    ['found dead after a host restart', Active, null, Running, Shutdown, exit('found-dead'), 'autostart', 'QEMU was not running when its host came back; starting it again'],
    ['found dead while paused', Paused, null, PowerState.Paused, Shutdown, exit('found-dead'), 'shutoff', 'QEMU was not running when its host came back'],
    ['kill -9 while paused', Paused, null, PowerState.Paused, Shutdown, exit('unexpected', 'killed by SIGKILL'), 'shutoff', 'QEMU exited unexpectedly: killed by SIGKILL'],
    ['a pause seen by the agent', Active, null, Running, PowerState.Paused, undefined, 'record', undefined],
    // An operation owns the server: only the power state is written.
    ['found dead while a stop runs', Active, TaskState.PoweringOff, Running, Shutdown, exit('found-dead'), 'record', undefined],
    ['kill -9 while spawning', Building, TaskState.Spawning, NoState, Shutdown, exit('unexpected'), 'record', undefined],
    ['kill -9 during a reboot', Active, TaskState.Rebooting, Running, Shutdown, exit('unexpected'), 'record', undefined],
    ['found dead during the autostart itself', Stopped, TaskState.PoweringOn, Shutdown, Shutdown, exit('found-dead'), 'none', undefined],
    // Not meant to run: nothing to decide.
    ['a stopped server found dead', Stopped, null, Shutdown, Shutdown, exit('found-dead'), 'none', undefined],
    ['a stopped server, power state news', Stopped, null, Running, Shutdown, exit('host-stop'), 'record', undefined],
    ['an ERROR server whose QEMU ended', Err, null, Crashed, Shutdown, exit('guest-panic'), 'record', undefined],
    ['a suspended server', Suspended, null, PowerState.Suspended, PowerState.Suspended, exit('host-stop', 'suspend'), 'none', undefined],
  ])('%s: %s/%s/%s, agent says %s -> %s', (_what, vmState, taskState, powerState, observed, lastExit, kind, message) => {
    const decision = decidePowerSync({ vmState, taskState, powerState }, { powerState: observed, lastExit }, ctx);
    expect(decision.kind).toBe(kind);
    if (kind !== 'none') expect(decision).toHaveProperty('powerState', observed);
    if (message !== undefined) expect('fault' in decision ? (decision.fault?.message ?? null) : undefined).toBe(message);
  });

  it('starts nothing on a host that is not up (fenced, disabled, maintenance)', () => {
    const decision = decidePowerSync({ vmState: Active, taskState: null, powerState: Running }, { powerState: Shutdown, lastExit: exit('found-dead') }, { ...ctx, hostUp: false });
    expect(decision).toMatchObject({ kind: 'shutoff', fault: { message: 'QEMU was not running when its host came back' } });
  });

  it('never leaves a server whose QEMU is gone ACTIVE', () => {
    const causes: Array<InstanceExitCause | undefined> = ['guest-shutdown', 'guest-panic', 'host-stop', 'unexpected', 'found-dead', undefined];
    for (const cause of causes) {
      for (const observed of [Shutdown, NoState, Crashed]) {
        for (const hostUp of [true, false]) {
          const decision = decidePowerSync({ vmState: Active, taskState: null, powerState: Running }, { powerState: observed, lastExit: cause && exit(cause) }, { ...ctx, hostUp });
          expect(changesVmState(decision)).toBe(true);
        }
      }
    }
  });
});

describe('novaFault', () => {
  it('is a 500 with the time, and keeps the host and raw cause for admins', () => {
    expect(novaFault('QEMU exited unexpectedly: killed by SIGKILL', ctx, exit('unexpected', 'killed by SIGKILL'))).toEqual({
      code: 500,
      message: 'QEMU exited unexpectedly: killed by SIGKILL',
      created: '2026-03-01T10:00:00.500Z',
      details: 'host nubo-h1; cause unexpected: killed by SIGKILL; at 2026-03-01T10:00:00.000Z',
    });
  });
});

describe('latencyMs', () => {
  it.each([
    [exit('unexpected'), 500],
    [{ cause: 'unexpected' as const, detail: 'x', at: 'garbage' }, undefined],
    [undefined, undefined],
  ])('measures from the exit to now: %j', (lastExit, ms) => expect(latencyMs(lastExit, now)).toBe(ms));
});
