/**
 * The record of a server's scheduling decisions (compute.placement_decisions): each decision's
 * explanation, linked to the instance action by request id (the server's create request unless
 * given), and the spawn failures that exclude hosts when the server is placed again. Plain SQL
 * so that the claim writes its decision in its own transaction.
 */
import { EntityManager } from 'typeorm';
import { PlacementExplanation } from './placement-types';

type Db = Pick<EntityManager, 'query'>;

/**
 * Stores one decision (call it in the claim's transaction after each decision, and for a
 * NoValidHost outside the transaction that rolls back). `attempt` is 1 for the first placement
 * of a create and counts up with each reschedule.
 */
export async function recordPlacementDecision(
  db: Db,
  serverId: string,
  attempt: number,
  explanation: PlacementExplanation,
  options: { requestId?: string } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO compute.placement_decisions (server_id, attempt, request_id, host_id, explanation)
     SELECT $1, $2, COALESCE($3, s.request_id), $4, $5::jsonb FROM compute.servers s WHERE s.id = $1`,
    [serverId, attempt, options.requestId ?? null, explanation.chosen, JSON.stringify(explanation)],
  );
}

export interface PlacementFailure {
  attempt: number;
  hostId: string;
  reason: string;
}

export interface PlacementHistory {
  /** The number of the next decision: 1 + the spawns that failed. */
  attempt: number;
  /** Hosts where a spawn of this server failed: never chosen again for it. */
  excludedHosts: string[];
  failures: PlacementFailure[];
}

export async function placementHistory(db: Db, serverId: string): Promise<PlacementHistory> {
  const rows: Array<{ attempt: number; host_id: string; failure: string }> = await db.query(
    `SELECT attempt, host_id, failure FROM compute.placement_decisions
      WHERE server_id = $1 AND failed_at IS NOT NULL ORDER BY id`,
    [serverId],
  );
  const failures = rows.map((r) => ({ attempt: r.attempt, hostId: r.host_id, reason: r.failure }));
  return { attempt: failures.length + 1, excludedHosts: [...new Set(failures.map((f) => f.hostId))], failures };
}

/**
 * Marks the latest decision that put the server on `hostId` as failed with `reason`; without one
 * (a decision not recorded), records the failure alone, so the host is excluded all the same.
 */
export async function recordSpawnFailure(db: Db, serverId: string, hostId: string, reason: string): Promise<void> {
  const updated: [unknown[], number] = await db.query(
    `UPDATE compute.placement_decisions SET failure = $3, failed_at = now()
      WHERE id = (SELECT id FROM compute.placement_decisions
                   WHERE server_id = $1 AND host_id = $2 AND failed_at IS NULL ORDER BY id DESC LIMIT 1)`,
    [serverId, hostId, reason],
  );
  if (updated[1] > 0) return;
  await db.query(
    `INSERT INTO compute.placement_decisions (server_id, attempt, request_id, host_id, failure, failed_at)
     SELECT $1, (SELECT COUNT(*) + 1 FROM compute.placement_decisions WHERE server_id = $1 AND failed_at IS NOT NULL),
            s.request_id, $2, $3, now()
       FROM compute.servers s WHERE s.id = $1`,
    [serverId, hostId, reason],
  );
}
