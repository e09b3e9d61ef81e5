/** Failover controller settings (spread into schedulerSchema). */
import { env } from '@nubo/config';

export const failoverSchema = {
  /** How often the active failover controller runs its tasks. */
  NUBO_FAILOVER_TICK_MS: env.int({ default: 1_000, min: 100, max: 60_000 }),
  /** How often a standby scheduler tries to take the lead. */
  NUBO_FAILOVER_LEADER_RETRY_MS: env.int({ default: 500, min: 50, max: 10_000 }),
  /**
   * A leader that stops talking to PostgreSQL (frozen, cut off) loses the lead after this long:
   * its session ends on the server (idle_session_timeout) and it steps down by itself before.
   */
  NUBO_FAILOVER_LEADER_TIMEOUT_MS: env.int({ default: 3_000, min: 300, max: 60_000 }),
  /**
   * The BullMQ lock of workflow jobs: the jobs of a scheduler killed mid-recovery (its evacuations)
   * wait for their locks to expire before another scheduler resumes them. BullMQ's 30 s would hold
   * a dead scheduler's evacuations up to 35 s; a live worker renews its locks every half of this.
   */
  NUBO_WORKFLOW_LOCK_MS: env.int({ default: 10_000, min: 2_000, max: 300_000 }),
};

/** The workflow worker's lock and stalled check (libs/jobs WorkerLockOptions): resumed within lock + lock/5. */
export function workflowLockOptions(config: { NUBO_WORKFLOW_LOCK_MS?: number }): { lockDurationMs: number; stalledIntervalMs: number } {
  const lockDurationMs = config.NUBO_WORKFLOW_LOCK_MS ?? 10_000;
  return { lockDurationMs, stalledIntervalMs: Math.min(5_000, Math.ceil(lockDurationMs / 5)) };
}
