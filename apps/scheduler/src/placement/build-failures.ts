/**
 * Recent build failures per host, for the build-failure weigher (Nova's BuildFailureWeigher reads
 * the compute node's failed_builds the same way): a failed spawn counts one, a successful one
 * resets the count, and a count whose last failure is older than FAILURE_MEMORY_S is forgotten
 * (the host-candidates loader reads it as 0).
 */
import { Db } from './host-usage';

export const FAILURE_MEMORY_S = 3600;

/** SQL for a host row's recent failures as the weigher sees them (alias `h`). */
export const RECENT_FAILURES_SQL = `CASE WHEN h.last_failure_at > now() - interval '${FAILURE_MEMORY_S} seconds' THEN h.recent_failures ELSE 0 END`;

export async function recordBuildFailure(db: Db, hostId: string): Promise<void> {
  await db.query(
    `UPDATE compute.hosts SET recent_failures = CASE WHEN last_failure_at > now() - interval '${FAILURE_MEMORY_S} seconds'
                                                     THEN recent_failures + 1 ELSE 1 END, last_failure_at = now()
      WHERE id = $1`,
    [hostId],
  );
}

/** Writes only when there is something to reset, so a healthy host's row is not rewritten per build. */
export async function recordBuildSuccess(db: Db, hostId: string): Promise<void> {
  await db.query(`UPDATE compute.hosts SET recent_failures = 0 WHERE id = $1 AND recent_failures <> 0`, [hostId]);
}
