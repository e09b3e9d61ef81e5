/**
 * Host state history (migration 1732550021200): a trigger on compute.hosts records every state
 * change; the writer names its reason in the transaction with `setHostStateReason` (or, in one
 * autocommit statement, with the `HOST_STATE_REASON_CTE` CTE joined into the UPDATE).
 */

/** Anything with TypeORM's `query` (a DataSource, an EntityManager, a QueryRunner). */
interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/** Longest reason kept (the rest is cut). */
export const HOST_STATE_REASON_MAX = 500;

/** Names the reason of the host state changes the current transaction makes. */
export async function setHostStateReason(q: Queryable, reason: string): Promise<void> {
  await q.query(`SELECT set_config('nubo.host_state_reason', $1, true)`, [reason.slice(0, HOST_STATE_REASON_MAX)]);
}

/**
 * For a single statement: `WITH ${HOST_STATE_REASON_CTE('$2')} UPDATE compute.hosts ... FROM
 * host_state_reason WHERE ...` (the join evaluates it before any row changes).
 */
export const HOST_STATE_REASON_CTE = (param: string) =>
  `host_state_reason AS MATERIALIZED (SELECT set_config('nubo.host_state_reason', left(${param}::text, ${HOST_STATE_REASON_MAX}), true) AS reason)`;

/**
 * An admin enabled the host again (os-services enable): a host that was fenced may take a new
 * lease epoch from now on. Call in the transaction that set the host `up`.
 */
export async function releaseHostFence(q: Queryable, hostId: string): Promise<void> {
  await q.query(
    `UPDATE compute.host_leases SET fenced_at = NULL
      WHERE host_id = $1 AND fenced_at IS NOT NULL AND (SELECT state FROM compute.hosts WHERE id = $1) = 'up'`,
    [hostId],
  );
}
