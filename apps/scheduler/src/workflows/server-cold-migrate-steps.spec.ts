import { TaskState } from '@nubo/contracts';
import { COLD_STEPS, ColdMigrationState, MigrationStatus } from '@nubo/database';
import { ColdAction, coldRollback, nextColdAction, reached } from './server-cold-migrate-steps';

describe('nextColdAction', () => {
  it.each<[TaskState | null, MigrationStatus, ColdMigrationState['step'], ColdAction]>([
    [TaskState.ResizePrep, 'pre-migrating', undefined, 'claim'],
    [TaskState.ResizeMigrating, 'migrating', 'claimed', 'network'],
    [TaskState.ResizeMigrating, 'migrating', 'network-prepared', 'describe'],
    [TaskState.ResizeMigrating, 'migrating', 'disks-described', 'prepare'],
    [TaskState.ResizeMigrating, 'migrating', 'destination-prepared', 'stop'],
    [TaskState.ResizeMigrating, 'migrating', 'source-stopped', 'transfer'],
    [TaskState.ResizeMigrating, 'migrating', 'transferred', 'finish'],
    // A finish asked for and not answered is asked again (idempotent on the destination).
    [TaskState.ResizeMigrating, 'migrating', 'finishing', 'finish'],
    [TaskState.ResizeMigrating, 'migrating', 'destination-finished', 'move'],
    [TaskState.ResizeMigrated, 'post-migrating', 'moved', 'complete'],
    [TaskState.ResizeFinish, 'post-migrating', 'moved', 'complete'],
    // Done, rolled back, refused, deleted or a stale replay: nothing to do.
    [null, 'finished', 'moved', 'none'],
    [null, 'error', 'rolled-back', 'none'],
    [TaskState.ResizeMigrating, 'migrating', 'rolled-back', 'none'],
    [TaskState.ResizePrep, 'error', undefined, 'none'],
    [TaskState.ResizePrep, 'pre-migrating', 'claimed', 'none'],
    [TaskState.ResizeMigrating, 'pre-migrating', undefined, 'none'],
    [TaskState.Deleting, 'migrating', 'source-stopped', 'none'],
    [TaskState.ResizeMigrated, 'post-migrating', 'destination-finished', 'none'],
    [TaskState.ResizeConfirming, 'confirming', 'moved', 'none'],
  ])('%s, migration %s, step %s -> %s', (task, status, step, action) => expect(nextColdAction(task, status, step)).toBe(action));

  it('walks every step in order from the claim to the move', () => {
    const actions = COLD_STEPS.filter((s) => s !== 'moved').map((s) => nextColdAction(TaskState.ResizeMigrating, 'migrating', s));
    expect(actions).toEqual(['network', 'describe', 'prepare', 'stop', 'transfer', 'finish', 'finish', 'move']);
  });
});

describe('reached', () => {
  it.each<[ColdMigrationState['step'], boolean]>([
    [undefined, false],
    ['rolled-back', false],
    ['source-stopped', false],
    ['transferred', false],
    ['finishing', true],
    ['moved', true],
  ])('%s has reached finishing: %s', (step, yes) => expect(reached(step, 'finishing')).toBe(yes));
});

describe('coldRollback', () => {
  const none = { networkAbort: false, abortDestination: false, destroyDestination: false, restartSource: false };

  it.each<[ColdMigrationState['step'], boolean, ReturnType<typeof coldRollback>]>([
    // Refused or failed at the claim: nothing on any host.
    [undefined, true, none],
    [
      'claimed',
      true,
      { ...none, networkAbort: true },
    ],
    // The source's disks were being described: the destination may already have prepared (an unanswered call).
    ['disks-described', true, { ...none, networkAbort: true, abortDestination: true }],
    // The stop may have happened, unanswered: a guest that ran starts again.
    ['destination-prepared', true, { networkAbort: true, abortDestination: true, destroyDestination: false, restartSource: true }],
    ['transferred', true, { networkAbort: true, abortDestination: true, destroyDestination: false, restartSource: true }],
    // A stopped server stays stopped.
    ['transferred', false, { networkAbort: true, abortDestination: true, destroyDestination: false, restartSource: false }],
    // The destination may run the guest: its copy must be destroyed before the source starts.
    ['finishing', true, { networkAbort: true, abortDestination: true, destroyDestination: true, restartSource: true }],
    // Past the destination's finish nothing rolls back.
    ['destination-finished', true, undefined],
    ['moved', true, undefined],
  ])('after %s (ran before: %s) -> %j', (step, ran, plan) => expect(coldRollback(step, ran)).toEqual(plan));

  it('never restarts the source without first destroying a destination that may run the guest', () => {
    for (const step of COLD_STEPS) {
      const plan = coldRollback(step, true);
      if (plan && reached(step, 'finishing')) expect(plan.destroyDestination).toBe(true);
    }
  });
});
