/**
 * The per-host usage counters (compute.hosts.used_vcpus/used_ram_mb/used_disk_gb/instances) and
 * the SQL that keeps them equal to the sum of the host's allocations: every allocation insert
 * and delete goes through here, in the transaction that writes it.
 *
 * A claim is one conditional UPDATE of the host row: it adds the request to the counters only
 * if the result still fits floor((total - reserved) * ratio) on the row as it is at that instant
 * (PostgreSQL re-evaluates the WHERE on the newest row version after waiting for its lock), so a
 * claim computed on stale numbers can lose, never overbook. Lock order, everywhere: the server
 * row (claims), then host rows, then allocation rows.
 */
import { Pool } from 'pg';
import { EntityManager } from 'typeorm';

export type Db = Pick<EntityManager, 'query'>;

export interface Amounts {
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

/** The host row's capacity test for adding the amounts the SQL expressions give (parameters or columns). */
export function fitsSql(p: { vcpus: string; ramMb: string; diskGb: string }): string {
  return `used_vcpus + ${p.vcpus} <= floor((vcpus - reserved_vcpus) * cpu_allocation_ratio)
      AND used_ram_mb + ${p.ramMb} <= floor((ram_mb - reserved_ram_mb) * ram_allocation_ratio)
      AND used_disk_gb + ${p.diskGb} <= floor((disk_gb - reserved_disk_gb) * disk_allocation_ratio)`;
}

/** Counters as a claim leaves them (RETURNING of the claim statements). */
export interface HostUsageRow {
  generation: string;
  used_vcpus: number;
  used_ram_mb: number;
  used_disk_gb: number;
  instances: number;
}

export const USAGE_RETURNING = 'generation, used_vcpus, used_ram_mb, used_disk_gb, instances';

/**
 * Adds `amounts` (and `consumers` to the consumer count) to an `up` host's counters if they
 * still fit. Returns the new counters, or undefined when the host refused.
 */
export async function claimOnHost(db: Db, hostId: string, amounts: Amounts, consumers: number): Promise<HostUsageRow | undefined> {
  const rows: [HostUsageRow[], number] = await db.query(
    `UPDATE compute.hosts SET used_vcpus = used_vcpus + $2, used_ram_mb = used_ram_mb + $3, used_disk_gb = used_disk_gb + $4,
            instances = instances + $5, generation = generation + 1
      WHERE id = $1 AND state = 'up' AND ${fitsSql({ vcpus: '$2', ramMb: '$3', diskGb: '$4' })}
      RETURNING ${USAGE_RETURNING}`,
    [hostId, amounts.vcpus, amounts.ramMb, amounts.diskGb, consumers],
  );
  return rows[0][0];
}

/**
 * Locks, in id order, the host rows of the allocations that `where` selects. Every writer takes a
 * host row before the allocation rows on it (a claim updates the host, then inserts), so doing the
 * same here keeps a release and a claim from waiting on each other in a cycle. (A release's
 * caller updates the server row after it: a server being released is not in `scheduling`, so no
 * claim holds its row meanwhile.)
 */
export async function lockHostsOf(db: Db, where: string, params: unknown[]): Promise<void> {
  await db.query(
    `SELECT id FROM compute.hosts WHERE id IN (SELECT host_id FROM compute.allocations WHERE ${where}) ORDER BY id FOR UPDATE`,
    params,
  );
}

/**
 * Deletes the allocations that `where` selects (SQL over compute.allocations, with `params`)
 * and gives what they held back to their hosts. Call it inside a transaction. Returns each
 * host's counters as they are now.
 */
export async function freeAllocations(db: Db, where: string, params: unknown[]): Promise<Array<HostUsageRow & { id: string }>> {
  await lockHostsOf(db, where, params);
  const [rows]: [Array<HostUsageRow & { id: string }>, number] = await db.query(
    `WITH gone AS (DELETE FROM compute.allocations WHERE ${where} RETURNING host_id, vcpus, ram_mb, disk_gb),
          per_host AS (SELECT host_id, SUM(vcpus)::int AS vcpus, SUM(ram_mb)::int AS ram_mb, SUM(disk_gb)::int AS disk_gb,
                              count(*)::int AS n FROM gone GROUP BY host_id)
     UPDATE compute.hosts h SET used_vcpus = h.used_vcpus - p.vcpus, used_ram_mb = h.used_ram_mb - p.ram_mb,
            used_disk_gb = h.used_disk_gb - p.disk_gb, instances = h.instances - p.n, generation = h.generation + 1
       FROM per_host p WHERE h.id = p.host_id
     RETURNING h.id, h.generation, h.used_vcpus, h.used_ram_mb, h.used_disk_gb, h.instances`,
    params,
  );
  return rows;
}

/**
 * Hosts whose counters differ from the sum of their allocations (none, unless something wrote
 * compute.allocations without going through this file). For tests and the benchmark.
 */
export async function usageDrift(db: Db | Pool, hostFilter = 'true'): Promise<DriftRow[]> {
  // TypeORM answers rows, node-postgres a result holding them.
  const result: DriftRow[] | { rows: DriftRow[] } = await (db as Db).query(
    `SELECT h.id, concat_ws('/', h.used_vcpus, h.used_ram_mb, h.used_disk_gb, h.instances) AS counted,
            concat_ws('/', COALESCE(a.vcpus, 0), COALESCE(a.ram_mb, 0), COALESCE(a.disk_gb, 0), COALESCE(a.n, 0)) AS actual
       FROM compute.hosts h
       LEFT JOIN (SELECT host_id, SUM(vcpus) AS vcpus, SUM(ram_mb) AS ram_mb, SUM(disk_gb) AS disk_gb, count(*) AS n
                    FROM compute.allocations GROUP BY host_id) a ON a.host_id = h.id
      WHERE (${hostFilter})
        AND (h.used_vcpus, h.used_ram_mb, h.used_disk_gb, h.instances)
            IS DISTINCT FROM (COALESCE(a.vcpus, 0)::int, COALESCE(a.ram_mb, 0)::int, COALESCE(a.disk_gb, 0)::int, COALESCE(a.n, 0)::int)`,
  );
  return Array.isArray(result) ? result : result.rows;
}

type DriftRow = { id: string; counted: string; actual: string };
