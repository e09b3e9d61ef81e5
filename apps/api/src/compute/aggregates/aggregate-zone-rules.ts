/**
 * Nova's availability-zone rules for aggregates (nova/compute/api.py AggregateAPI): a host is in
 * at most one zone, a zone has a name, and no change may move the servers already on a host to
 * another zone. Callers hold the aggregates lock, so what these read cannot change under them.
 * Each rule returns the reason it refuses, or null; the caller words the error for its action.
 */
import { EntityManager } from 'typeorm';

type Db = Pick<EntityManager, 'query'>;

/** How Python prints a list of strings (Nova formats the list into its message). */
export function pyList(items: string[]): string {
  const repr = (s: string) => {
    const escaped = s.replace(/\\/g, '\\\\');
    return s.includes("'") && !s.includes('"') ? `"${escaped}"` : `'${escaped.replace(/'/g, "\\'")}'`;
  };
  return `[${items.map(repr).join(', ')}]`;
}

/** Python's '%s' of an optional string. */
const py = (s: string | null) => (s === null ? 'None' : s);

async function serversOn(db: Db, hosts: string[]): Promise<number> {
  if (!hosts.length) return 0;
  const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM compute.servers WHERE host_id = ANY($1::text[]) AND deleted_at IS NULL`, [hosts]);
  return n;
}

/** The zone a host gets from its aggregates, leaving one aggregate out; null: none (the default zone). */
async function zoneOfHost(db: Db, host: string, exceptAggregate?: number): Promise<string | null> {
  const rows: Array<{ availability_zone: string }> = await db.query(
    `SELECT a.availability_zone FROM compute.aggregate_hosts ah JOIN compute.aggregates a ON a.id = ah.aggregate_id
      WHERE ah.host_id = $1 AND a.deleted_at IS NULL AND a.availability_zone IS NOT NULL AND a.id <> $2
      ORDER BY a.id LIMIT 1`,
    [host, exceptAggregate ?? 0],
  );
  return rows[0]?.availability_zone ?? null;
}

/**
 * is_safe_to_update_az: giving aggregate `aggregateId` (name `name`) the zone `zone`, with `hosts`
 * in it. `checkServers`: also refuse when the zone changes under hosts that have servers.
 */
export async function zoneChangeRefusal(
  db: Db,
  o: { aggregateId: number; name: string; currentZone: string | null; zone: string | null; hosts: string[]; checkServers: boolean },
): Promise<string | null> {
  if (!o.zone) return `Aggregate ${o.name} does not support empty named availability zone`;
  if (o.hosts.length) {
    const rows: Array<{ availability_zone: string }> = await db.query(
      `SELECT DISTINCT a.id, a.availability_zone FROM compute.aggregate_hosts ah JOIN compute.aggregates a ON a.id = ah.aggregate_id
        WHERE ah.host_id = ANY($1::text[]) AND a.deleted_at IS NULL AND a.availability_zone IS NOT NULL
          AND a.availability_zone <> $2 AND a.id <> $3
        ORDER BY a.id`,
      [o.hosts, o.zone, o.aggregateId],
    );
    if (rows.length) return `One or more hosts already in availability zone(s) ${pyList(rows.map((r) => r.availability_zone))}`;
  }
  if (o.checkServers && o.currentZone !== o.zone && (await serversOn(db, o.hosts)) > 0) {
    return 'One or more hosts contain instances in this zone';
  }
  return null;
}

const MOVE_ADVICE =
  'Changing the AZ of an existing instance is not supported by this action. Move the instances away from this host then try again. ' +
  'If you need to move the instances between AZs then you can use shelve_offload and unshelve to achieve this.';

/** ensure_no_instances_need_to_move_az_when_host_added */
export async function hostAddRefusal(db: Db, o: { aggregateId: number; zone: string | null; host: string }): Promise<string | null> {
  if (!o.zone) return null;
  const servers = await serversOn(db, [o.host]);
  if (!servers) return null;
  const before = await zoneOfHost(db, o.host);
  if (before === o.zone) return null;
  return `The host cannot be added to the aggregate as the availability zone of the host would change from '${py(before)}' to '${o.zone}' ` +
    `but the host already has ${servers} instance(s). ${MOVE_ADVICE}`;
}

/** ensure_no_instances_need_to_move_az_when_host_removed */
export async function hostRemoveRefusal(db: Db, o: { aggregateId: number; zone: string | null; host: string }): Promise<string | null> {
  if (!o.zone) return null;
  const servers = await serversOn(db, [o.host]);
  if (!servers) return null;
  const after = await zoneOfHost(db, o.host, o.aggregateId);
  if (after === o.zone) return null;
  return `The host cannot be removed from the aggregate as the availability zone of the host would change from '${o.zone}' to '${py(after)}' ` +
    `but the host already has ${servers} instance(s). ${MOVE_ADVICE}`;
}
