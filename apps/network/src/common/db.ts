/** Small PostgreSQL helpers: unique violations, quota counting under a per-project lock. */
import { EntityManager } from 'typeorm';
import { overQuota } from './neutron-errors';

/** Whether a query failed on a unique index (optionally: that one). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const d = e?.driverError ?? e;
  return d?.code === '23505' && (!constraint || d.constraint === constraint);
}

/** Neutron's default quotas (neutron.conf [quotas]), as the api's network-quotas controller reports them. */
export const NEUTRON_QUOTAS = { network: 100, subnet: 100, port: 500, security_group: 10, security_group_rule: 100 } as const;
const TABLES: Record<keyof typeof NEUTRON_QUOTAS, string> = {
  network: 'network.networks',
  subnet: 'network.subnets',
  port: 'network.ports',
  security_group: 'network.security_groups',
  security_group_rule: 'network.security_group_rules',
};

/**
 * Throws OverQuota when `adding` more would pass the limit. The transaction-scoped advisory lock
 * serializes creates of one resource in one project, so two parallel creates cannot both take the
 * last slot.
 */
export async function checkQuota(m: EntityManager, resource: keyof typeof NEUTRON_QUOTAS, projectId: string, adding = 1): Promise<void> {
  await m.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`neutron-quota:${resource}:${projectId}`]);
  const [{ n }] = await m.query(`SELECT count(*)::int AS n FROM ${TABLES[resource]} WHERE project_id = $1`, [projectId]);
  if (n + adding > NEUTRON_QUOTAS[resource]) throw overQuota(resource);
}
