/**
 * Nova's migration records (compute.migrations): a resize writes one at the API, the scheduler's
 * workflow moves its status along, confirm and revert close it. Plain SQL so both sides write the
 * same rows. Statuses, as Nova names them:
 *
 *   pre-migrating -> migrating -> post-migrating -> finished -> confirming -> confirmed
 *                                                            \-> reverting  -> reverted
 *   any open status -> error (the resize failed and was undone)
 */
import { VmState } from '@nubo/contracts';
import { EntityManager } from 'typeorm';

type Db = Pick<EntityManager, 'query'>;

export type MigrationStatus =
  | 'pre-migrating'
  | 'migrating'
  | 'post-migrating'
  | 'finished'
  | 'confirming'
  | 'confirmed'
  | 'reverting'
  | 'reverted'
  | 'error';

/** Statuses of a move that is not over (at most one per server). */
export const OPEN_MIGRATION_STATUSES: MigrationStatus[] = ['pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', 'reverting'];

/** A flavor as a server row embeds it (a resize embeds the new one's extras too). */
export interface FlavorShape {
  vcpus: number;
  ramMb: number;
  diskGb: number;
  name: string;
  ephemeralGb?: number;
  extraSpecs?: Record<string, string>;
}

export interface MigrationRecord {
  id: string;
  serverId: string;
  projectId: string;
  migrationType: 'resize';
  status: MigrationStatus;
  sourceHost: string;
  destHost: string;
  oldFlavorId: string;
  oldFlavor: FlavorShape;
  newFlavorId: string;
  newFlavor: FlavorShape;
  /** Where the server returns on confirm, revert or failure: active or stopped. */
  oldVmState: VmState;
  requestId: string;
}

const COLUMNS = `id, server_id, project_id, migration_type, status, source_host, dest_host, old_flavor_id, old_flavor,
  new_flavor_id, new_flavor, old_vm_state, request_id`;

function fromRow(r: Record<string, any>): MigrationRecord {
  return {
    id: r.id,
    serverId: r.server_id,
    projectId: r.project_id,
    migrationType: r.migration_type,
    status: r.status,
    sourceHost: r.source_host,
    destHost: r.dest_host,
    oldFlavorId: r.old_flavor_id,
    oldFlavor: r.old_flavor,
    newFlavorId: r.new_flavor_id,
    newFlavor: r.new_flavor,
    oldVmState: r.old_vm_state,
    requestId: r.request_id,
  };
}

export async function insertMigration(db: Db, m: MigrationRecord): Promise<void> {
  await db.query(
    `INSERT INTO compute.migrations (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [m.id, m.serverId, m.projectId, m.migrationType, m.status, m.sourceHost, m.destHost, m.oldFlavorId, m.oldFlavor, m.newFlavorId, m.newFlavor, m.oldVmState, m.requestId],
  );
}

export async function getMigration(db: Db, id: string): Promise<MigrationRecord | undefined> {
  const [row] = await db.query(`SELECT ${COLUMNS} FROM compute.migrations WHERE id = $1`, [id]);
  return row ? fromRow(row) : undefined;
}

/** The server's move that is not over, if any. */
export async function openMigration(db: Db, serverId: string): Promise<MigrationRecord | undefined> {
  const [row] = await db.query(`SELECT ${COLUMNS} FROM compute.migrations WHERE server_id = $1 AND status = ANY($2)`, [
    serverId,
    OPEN_MIGRATION_STATUSES,
  ]);
  return row ? fromRow(row) : undefined;
}

/** Compare-and-set of the status; true when this call moved it. */
export async function setMigrationStatus(db: Db, id: string, from: MigrationStatus[], to: MigrationStatus): Promise<boolean> {
  const result = await db.query(`UPDATE compute.migrations SET status = $3, updated_at = now() WHERE id = $1 AND status = ANY($2)`, [id, from, to]);
  return result[1] === 1;
}
