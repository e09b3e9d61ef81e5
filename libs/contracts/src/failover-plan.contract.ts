/**
 * High availability markers and the failover plan (GET /nubo/v1/failover-plan): for each host,
 * where its HA servers would restart if it died now, and whether the room is there. The
 * scheduler computes it (service subject scheduler.failover-plan) with its own filters and
 * weighers, as the failover controller would place them.
 */
import { rpc } from './rpc';

/** Flavor extra spec or server metadata: `true` marks a server for automatic recovery. */
export const HA_KEY = 'nubo:ha';
/** Flavor extra spec or server metadata: higher recovers first (an integer; default 0). */
export const HA_PRIORITY_KEY = 'nubo:ha_priority';

/** Whether a server is HA, and its priority: server metadata wins over the flavor's extra specs. */
export function haOf(extraSpecs: Readonly<Record<string, unknown>> | null | undefined, metadata: Readonly<Record<string, unknown>> | null | undefined): { ha: boolean; priority: number } {
  const pick = (key: string) => (metadata?.[key] !== undefined ? metadata[key] : extraSpecs?.[key]);
  const ha = String(pick(HA_KEY) ?? '').toLowerCase() === 'true';
  const raw = Number(pick(HA_PRIORITY_KEY) ?? 0);
  return { ha, priority: Number.isSafeInteger(raw) ? raw : 0 };
}

export interface FailoverPlanServer {
  id: string;
  name: string;
  priority: number;
  /** Where it would restart; null: no host has room (or passes its filters). */
  destination: string | null;
  /** Why not, when destination is null (the filter that emptied the list). */
  reason?: string;
}

export interface FailoverPlanHost {
  host: string;
  state: string;
  servers: FailoverPlanServer[];
  /** Every HA server of the host has a destination. */
  capacityOk: boolean;
}

export interface FailoverPlanReply {
  hosts: FailoverPlanHost[];
}

export const FailoverPlanOps = {
  plan: rpc<Record<string, never>, FailoverPlanReply>('failover-plan', { timeoutMs: 30_000 }),
};
