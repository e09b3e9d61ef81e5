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
};
