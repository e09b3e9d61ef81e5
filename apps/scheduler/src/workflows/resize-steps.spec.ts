import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { MigrationStatus } from '@nubo/database';
import { nextResizeStep, powerOnAfterResize, rebuildOutcome, vmStateAfterConfirm } from './resize-steps';

describe('nextResizeStep', () => {
  it.each<[TaskState | null, MigrationStatus, string]>([
    [TaskState.ResizePrep, 'pre-migrating', 'claim'],
    [TaskState.ResizeMigrating, 'migrating', 'agent'],
    [TaskState.ResizeMigrated, 'post-migrating', 'finish'],
    [TaskState.ResizeFinish, 'post-migrating', 'finish'],
    // Done, undone, refused, deleted or taken by another operation: nothing to do.
    [null, 'finished', 'none'],
    [null, 'error', 'none'],
    [TaskState.ResizePrep, 'error', 'none'],
    [TaskState.ResizeMigrating, 'pre-migrating', 'none'],
    [TaskState.Deleting, 'migrating', 'none'],
    [TaskState.ResizeConfirming, 'confirming', 'none'],
  ])('%s with migration %s -> %s', (task, status, step) => expect(nextResizeStep(task, status)).toBe(step));
});

describe('where a resize, a confirm and a rebuild leave the server', () => {
  it.each([
    [VmState.Active, true],
    [VmState.Stopped, false],
  ])('a server %s before the resize is powered on after it: %s', (vm, on) => expect(powerOnAfterResize(vm)).toBe(on));

  it.each([
    [PowerState.Running, VmState.Active],
    [PowerState.Paused, VmState.Active],
    [PowerState.Shutdown, VmState.Stopped],
    [PowerState.Crashed, VmState.Stopped],
  ])('confirm with power state %s -> %s', (power, vm) => expect(vmStateAfterConfirm(power)).toBe(vm));

  it.each([
    [VmState.Active, { powerOn: true, vmState: VmState.Active }],
    [VmState.Error, { powerOn: true, vmState: VmState.Active }],
    [VmState.Stopped, { powerOn: false, vmState: VmState.Stopped }],
  ])('rebuild from %s -> %j', (vm, outcome) => expect(rebuildOutcome(vm)).toEqual(outcome));
});
