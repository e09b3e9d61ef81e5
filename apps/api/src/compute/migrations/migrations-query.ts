/**
 * GET /os-migrations: Nova's filters (`host` matches source or destination, `status`,
 * `migration_type`, `instance_uuid`), newest first. Unknown query keys are ignored as Nova 2.1 does.
 */
import { ValidationError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { MigrationRow } from './migration-view';

const MAX = 1000;

export async function listMigrations(db: DataSource, query: Record<string, unknown>): Promise<MigrationRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const text = (key: string): string | undefined => {
    const v = query[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new ValidationError(`Invalid input for query parameters ${key}.`, key);
    return v;
  };
  const host = text('host');
  if (host !== undefined) {
    params.push(host);
    where.push(`(m.source_host = $${params.length} OR m.dest_host = $${params.length})`);
  }
  for (const [key, column] of [
    ['status', 'm.status'],
    ['migration_type', 'm.migration_type'],
    ['instance_uuid', 'm.server_id::text'],
    ['source_compute', 'm.source_host'],
  ] as const) {
    const v = text(key);
    if (v === undefined) continue;
    params.push(v);
    where.push(`${column} = $${params.length}`);
  }
  const rows: Array<Record<string, any>> = await db.query(
    `SELECT m.id, m.number, m.server_id, m.project_id, m.user_id, m.migration_type, m.status, m.source_host, m.dest_host,
            split_part(h.underlay_ip, '/', 1) AS dest_address, m.old_flavor_id, m.new_flavor_id, m.created_at, m.updated_at
       FROM compute.migrations m LEFT JOIN compute.hosts h ON h.id = m.dest_host
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY m.created_at DESC, m.number DESC LIMIT ${MAX}`,
    params,
  );
  return rows.map((r) => ({
    id: r.id,
    number: Number(r.number),
    serverId: r.server_id,
    projectId: r.project_id,
    userId: r.user_id,
    migrationType: r.migration_type,
    status: r.status,
    sourceHost: r.source_host,
    destHost: r.dest_host,
    destAddress: r.dest_address,
    oldFlavorId: r.old_flavor_id,
    newFlavorId: r.new_flavor_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
}
