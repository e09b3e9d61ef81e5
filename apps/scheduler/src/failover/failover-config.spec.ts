import { workflowLockOptions } from './failover-config';

describe('workflowLockOptions', () => {
  it.each([
    // A killed scheduler's jobs resume within lock + stalled interval: 12 s by default, not BullMQ's 35 s.
    [undefined, { lockDurationMs: 10_000, stalledIntervalMs: 2_000 }],
    [2_000, { lockDurationMs: 2_000, stalledIntervalMs: 400 }],
    [60_000, { lockDurationMs: 60_000, stalledIntervalMs: 5_000 }],
  ])('NUBO_WORKFLOW_LOCK_MS=%s gives %j', (lock, expected) => {
    expect(workflowLockOptions({ NUBO_WORKFLOW_LOCK_MS: lock })).toEqual(expected);
  });
});
