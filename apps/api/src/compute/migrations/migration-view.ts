/**
 * Nova's migration objects (pure): the os-migrations list item (2.1; `migration_type` and `links`
 * from 2.23) and the in-progress live migration of GET /servers/{id}/migrations (2.23), with the
 * memory and disk counters the agent reports. Nova's `dest_host` is the destination's address;
 * a node is a host in Nubo, so *_compute and *_node are both the host id.
 */
import { LIVE_OPEN_STATUSES, LiveMigrationRecord } from '@nubo/database';
import { novaTime } from '../shared/nova-time';

/** A row as the list reads it: any migration type, with the destination's address. */
export interface MigrationRow {
  id: string;
  number: number;
  serverId: string;
  projectId: string;
  userId: string | null;
  migrationType: string;
  status: string;
  sourceHost: string;
  destHost: string | null;
  destAddress: string | null;
  oldFlavorId: string;
  newFlavorId: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Nova's flavor ids in migrations are integers: numeric ids are shown as numbers. */
const flavorRef = (id: string) => (/^[0-9]{1,15}$/.test(id) ? Number(id) : id);

/** Nova's migration_type: live-migration, resize, migration, evacuation. */
export function osMigrationView(m: MigrationRow, o: { baseUrl: string; version23: boolean }) {
  const view: Record<string, unknown> = {
    id: m.number,
    status: m.status,
    instance_uuid: m.serverId,
    source_compute: m.sourceHost,
    source_node: m.sourceHost,
    dest_compute: m.destHost,
    dest_node: m.destHost,
    dest_host: m.destAddress,
    old_instance_type_id: flavorRef(m.oldFlavorId),
    new_instance_type_id: flavorRef(m.newFlavorId),
    created_at: novaTime(m.createdAt),
    updated_at: novaTime(m.updatedAt),
  };
  if (o.version23) {
    view.migration_type = m.migrationType;
    if (m.migrationType === 'live-migration' && (LIVE_OPEN_STATUSES as string[]).includes(m.status)) {
      const href = `${o.baseUrl}/compute/v2.1/servers/${m.serverId}/migrations/${m.number}`;
      view.links = [
        { rel: 'self', href },
        { rel: 'bookmark', href: href.replace('/compute/v2.1/', '/compute/') },
      ];
    }
  }
  return view;
}

/** An in-progress live migration (GET /servers/{id}/migrations[/{id}]). Counters 0 until the agent reports them. */
export function serverMigrationView(m: LiveMigrationRecord, destAddress: string | null) {
  const memory = m.progress?.memory;
  const disk = m.progress?.disk;
  return {
    id: m.number,
    server_uuid: m.serverId,
    status: m.status,
    source_compute: m.sourceHost,
    source_node: m.sourceHost,
    dest_compute: m.destHost,
    dest_node: m.destHost,
    dest_host: destAddress,
    memory_total_bytes: memory?.totalBytes ?? 0,
    memory_processed_bytes: memory?.processedBytes ?? 0,
    memory_remaining_bytes: memory?.remainingBytes ?? 0,
    disk_total_bytes: disk?.totalBytes ?? 0,
    disk_processed_bytes: disk?.processedBytes ?? 0,
    disk_remaining_bytes: disk?.remainingBytes ?? 0,
    created_at: novaTime(m.createdAt),
    updated_at: novaTime(m.updatedAt),
  };
}
