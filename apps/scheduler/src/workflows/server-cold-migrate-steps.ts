/**
 * The steps of a cold migration, as tables (pure). Each step is persisted (task state, migration
 * status, `cold.step`) before the next, so a re-run (a stalled job, a retry) resumes at the step
 * the rows name, and every call it repeats is idempotent on the other side.
 *
 *   task state        migration       cold.step              next action
 *   resize_prep       pre-migrating   -                      claim        (destination chosen and claimed)
 *   resize_migrating  migrating       claimed                network      (ports plumbed on the destination)
 *                                     network-prepared       describe     (the source's disks and sizes)
 *                                     disks-described        prepare      (destination: target disks, qemu-nbd)
 *                                     destination-prepared   stop         (source: the guest powers off)
 *                                     source-stopped         transfer     (source: qemu-img convert into the exports)
 *                                     transferred, finishing finish       (destination: its instance, booted if it ran)
 *                                     destination-finished   move         (ONE transaction: host, claims, resize_migrated)
 *   resize_migrated   post-migrating  moved                  complete     (ports bound there, VERIFY_RESIZE)
 *   resize_finish     post-migrating  moved                  complete
 *   anything else                                            none         (done, rolled back, deleted, stale)
 */
import { TaskState } from '@nubo/contracts';
import { COLD_STEPS, ColdMigrationState, ColdStep, MigrationStatus } from '@nubo/database';

export type ColdAction = 'claim' | 'network' | 'describe' | 'prepare' | 'stop' | 'transfer' | 'finish' | 'move' | 'complete' | 'none';

const AFTER: Record<ColdStep, ColdAction> = {
  claimed: 'network',
  'network-prepared': 'describe',
  'disks-described': 'prepare',
  'destination-prepared': 'stop',
  'source-stopped': 'transfer',
  transferred: 'finish',
  finishing: 'finish',
  'destination-finished': 'move',
  moved: 'complete',
};

export function nextColdAction(task: TaskState | null, status: MigrationStatus, step: ColdMigrationState['step']): ColdAction {
  if (task === TaskState.ResizePrep && status === 'pre-migrating' && step === undefined) return 'claim';
  if (task === TaskState.ResizeMigrating && status === 'migrating' && step && step !== 'rolled-back' && step !== 'moved') return AFTER[step];
  if ((task === TaskState.ResizeMigrated || task === TaskState.ResizeFinish) && status === 'post-migrating' && step === 'moved') return 'complete';
  return 'none';
}

/** True when `step` is `at` or later. */
export function reached(step: ColdMigrationState['step'], at: ColdStep): boolean {
  if (step === undefined || step === 'rolled-back') return false;
  return COLD_STEPS.indexOf(step) >= COLD_STEPS.indexOf(at);
}

export interface ColdRollback {
  /** Ports may be plumbed on the destination: drop them there. */
  networkAbort: boolean;
  /** The destination may hold target disks and exports: abort them (idempotent; nothing when none). */
  abortDestination: boolean;
  /**
   * The destination may run the guest (its finish was asked for): its copy must be destroyed,
   * and that confirmed, before the source may start again. Never on two hosts.
   */
  destroyDestination: boolean;
  /** The source guest may have been powered off by the migration: start it again (if it ran before). */
  restartSource: boolean;
}

/** What a failure before the move must undo, by the last step done (pure). Past the move nothing rolls back. */
export function coldRollback(step: ColdMigrationState['step'], wasRunning: boolean): ColdRollback | undefined {
  if (reached(step, 'destination-finished')) return undefined;
  return {
    networkAbort: reached(step, 'claimed'),
    // prepare may have run, unanswered, before its step was written.
    abortDestination: reached(step, 'disks-described'),
    destroyDestination: reached(step, 'finishing'),
    // stop may have run, unanswered, before its step was written.
    restartSource: wasRunning && reached(step, 'destination-prepared'),
  };
}
