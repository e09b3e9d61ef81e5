/**
 * The steps of a resize job, as a table (pure): each step is persisted (task state + migration
 * status) before the next, so a re-run (stalled job, retry) resumes at the step the rows name.
 *
 *   task state        migration       next step
 *   resize_prep       pre-migrating   claim   (placement: both flavors on the host)
 *   resize_migrating  migrating       agent   (stop, disk aside, grow, new shape, start)
 *   resize_migrated   post-migrating  finish  (flavor on the row, VERIFY_RESIZE)
 *   resize_finish     post-migrating  finish
 *   anything else                     none    (done, undone, deleted, or a stale replay)
 */
import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { MigrationStatus } from '@nubo/database';

export type ResizeStep = 'claim' | 'agent' | 'finish' | 'none';

export function nextResizeStep(task: TaskState | null, status: MigrationStatus): ResizeStep {
  if (task === TaskState.ResizePrep && status === 'pre-migrating') return 'claim';
  if (task === TaskState.ResizeMigrating && status === 'migrating') return 'agent';
  if ((task === TaskState.ResizeMigrated || task === TaskState.ResizeFinish) && status === 'post-migrating') return 'finish';
  return 'none';
}

/** Nova's finish_resize / finish_revert_resize: a server stopped before the resize is not started. */
export function powerOnAfterResize(oldVmState: VmState): boolean {
  return oldVmState !== VmState.Stopped;
}

/** Nova's confirm: ACTIVE unless the guest is powered off, then STOPPED. */
export function vmStateAfterConfirm(powerState: PowerState): VmState {
  return powerState === PowerState.Running || powerState === PowerState.Paused ? VmState.Active : VmState.Stopped;
}

/** Rebuild (Nova since Queens): a stopped server stays stopped; active and error ones boot. */
export function rebuildOutcome(vmState: VmState): { powerOn: boolean; vmState: VmState } {
  return vmState === VmState.Stopped ? { powerOn: false, vmState: VmState.Stopped } : { powerOn: true, vmState: VmState.Active };
}
