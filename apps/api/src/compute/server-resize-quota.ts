/**
 * Quota of a resize (and of the revert of a downsize): Nova checks the upsize delta of cores and
 * RAM against the project's limits. The check runs under the project's quota lock, the one server
 * create takes, and counts the deltas of the project's resizes that are not applied to their
 * server rows yet, so two parallel upsizes cannot both take the last cores.
 */
import { QuotaExceededError } from '@nubo/contracts';
import { EntityManager } from 'typeorm';
import { firstOver, quotaExceededMessage } from './quotas/quota-limits';
import { QuotaService } from './quotas/quota.service';

/** Growth still to come: resizes before their finish (new - old), reverts before their end (old - new). */
const PENDING_SQL = `
  SELECT COALESCE(SUM(GREATEST(0, CASE WHEN status = 'reverting'
           THEN (old_flavor->>'vcpus')::int - (new_flavor->>'vcpus')::int
           ELSE (new_flavor->>'vcpus')::int - (old_flavor->>'vcpus')::int END)), 0)::int AS cores,
         COALESCE(SUM(GREATEST(0, CASE WHEN status = 'reverting'
           THEN (old_flavor->>'ramMb')::int - (new_flavor->>'ramMb')::int
           ELSE (new_flavor->>'ramMb')::int - (old_flavor->>'ramMb')::int END)), 0)::int AS ram
    FROM compute.migrations
   WHERE project_id = $1 AND status IN ('pre-migrating', 'migrating', 'post-migrating', 'reverting')`;

/** Inside the caller's transaction: throws QuotaExceededError (403, Nova's message) when over. */
export async function checkResizeQuota(
  quotas: QuotaService,
  tx: EntityManager,
  projectId: string,
  delta: { cores: number; ramMb: number },
): Promise<void> {
  await quotas.lock(tx, `project:${projectId}`);
  if (delta.cores === 0 && delta.ramMb === 0) return;
  const limits = await quotas.limits(tx, projectId);
  const used = await quotas.serverUsage(tx, projectId);
  const [pending]: Array<{ cores: number; ram: number }> = await tx.query(PENDING_SQL, [projectId]);
  const over = firstOver([
    { resource: 'cores', requested: delta.cores, used: used.cores + pending.cores, allowed: limits.cores },
    { resource: 'ram', requested: delta.ramMb, used: used.ramMb + pending.ram, allowed: limits.ram },
  ]);
  if (over) throw new QuotaExceededError(quotaExceededMessage(over), { ...over });
}
