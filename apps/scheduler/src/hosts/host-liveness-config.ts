/**
 * Liveness settings of the scheduler (spread into schedulerSchema). How the numbers fit, with
 * the defaults (agents heartbeat and renew every second):
 *
 *   t = 0   the agent sends its last renewal that gets through
 *   t = 6   the host is `down` (NUBO_HOST_DOWN_AFTER_MS without a heartbeat)
 *   t = 7   failover on: the fence driver powers it off (NUBO_FAILOVER_SETTLE_MS later), its HA
 *           servers start elsewhere
 *   t = 13  a live agent kills its VMs (NUBO_AGENT_FENCE_TIMEOUT_MS, capped at lease - 2 s)
 *   t = 15  the lease ends in PostgreSQL (NUBO_HOST_LEASE_MS after the renewal was processed,
 *           which is later than the agent sent it): no renewal with that epoch from now on
 *
 * A frozen or crashed agent kills nothing: only a fence driver makes those hosts safe.
 */
import { env } from '@nubo/config';
import { LEASE_FENCE_MARGIN_MS } from '@nubo/contracts';

export const hostLivenessSchema = {
  /** How long a granted lease runs. The agent fences itself LEASE_FENCE_MARGIN_MS (2 s) before it ends. */
  NUBO_HOST_LEASE_MS: env.int({ default: 15_000, min: LEASE_FENCE_MARGIN_MS + 2_000, max: 600_000 }),
};
