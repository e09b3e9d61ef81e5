/**
 * Schedulers of the e2e cloud as failover tests see them: scheduler N (1 = `scheduler`, started by
 * `cloud.sh up`; N > 1 = `scheduler-N`, `cloud.sh start-scheduler N`), their pids, and which one
 * holds the failover controller's leader lock (compute.failover_leadership names the holder as
 * `<hostname>:<pid>`; pg_locks shows the lock itself, granted to one PostgreSQL session).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive, withDb } from './cloud';
import { E2E } from './e2e-env';

export const schedulerName = (n: number) => (n === 1 ? 'scheduler' : `scheduler-${n}`);
export const schedulerLog = (n: number) => join(E2E.NUBO_STATE_DIR, 'logs', `${schedulerName(n)}.log`);
/** Health port of scheduler N (deploy/cloud.sh start_scheduler). */
export const schedulerHealthPort = (n: number) => Number(E2E.NUBO_HEALTH_PORT_BASE) + (n === 1 ? 1 : 20 + n);

/** The pid of scheduler N while it runs. */
export function schedulerPid(n: number): number | undefined {
  const file = join(E2E.NUBO_STATE_DIR, 'run', `${schedulerName(n)}.pid`);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return processAlive(pid) ? pid : undefined;
}

export interface Leadership {
  term: number;
  /** The holder's process id, from `<hostname>:<pid>`. */
  pid: number;
  acquiredAt: Date;
  /** Sessions granted the leader lock now (exactly one while a leader lives). */
  lockHolders: number;
  /** Failover connections (leader and standbys) open now. */
  contenders: number;
}

export async function leadership(): Promise<Leadership> {
  return withDb(async (db) => {
    const { rows } = await db.query(
      `SELECT term::int AS term, holder, acquired_at,
              (SELECT count(*)::int FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
                  AND l.classid = hashtext('nubo-failover')::oid AND l.objid = hashtext('failover-controller')::oid) AS lock_holders,
              (SELECT count(*)::int FROM pg_stat_activity WHERE application_name = 'nubo-scheduler-failover') AS contenders
         FROM compute.failover_leadership WHERE id = 1`,
    );
    const r = rows[0];
    return { term: r.term, pid: Number(/:(\d+)$/.exec(r.holder ?? '')?.[1] ?? NaN), acquiredAt: r.acquired_at, lockHolders: r.lock_holders, contenders: r.contenders };
  });
}

/** Scheduler numbers whose pid is `pid` (one, or none when it is no scheduler of this cloud). */
export function schedulerOfPid(pid: number, candidates: number[]): number | undefined {
  return candidates.find((n) => schedulerPid(n) === pid);
}
