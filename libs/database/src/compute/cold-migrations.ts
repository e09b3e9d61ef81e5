/**
 * Cold migrations in compute.migrations (migration_type 'migration', Nova's `migrate`): written by
 * the API (the record, status pre-migrating) and by the scheduler's workflow (each step in `cold`,
 * the destination, then the outcome). Statuses are a resize's (server-migrations.ts), so
 * confirmResize and revertResize find the record as they find a resize's:
 *
 *   pre-migrating -> migrating -> post-migrating -> finished -> confirming -> confirmed
 *                                                            \-> reverting  -> reverted
 *   pre-migrating | migrating -> error (failed, the server back on its source)
 *
 * The record's id is a placement consumer: of the destination's claim until the server moves
 * there, then of the source's until confirm (freed) or revert (the server's again).
 */
import { ColdDisk, ColdExport, VmState } from '@nubo/contracts';
import { EntityManager } from 'typeorm';
import { FlavorShape, MigrationStatus } from './server-migrations';

type Db = Pick<EntityManager, 'query'>;

export const COLD_MIGRATION_TYPE = 'migration';

/** Steps of the workflow, in order; the record names the last one done. */
export const COLD_STEPS = [
  'claimed',
  'network-prepared',
  'disks-described',
  'destination-prepared',
  'source-stopped',
  'transferred',
  'finishing',
  'destination-finished',
  'moved',
] as const;
export type ColdStep = (typeof COLD_STEPS)[number];

/** The scheduler's persisted state of one cold migration (see server-cold-migrate.workflow.ts). */
export interface ColdMigrationState {
  step?: ColdStep | 'rolled-back';
  disks?: ColdDisk[];
  baseSha256?: string;
  exports?: ColdExport[];
  /** Seconds the copy took, per disk. */
  transfer?: Array<{ disk: string; seconds: number }>;
  /** Why it is being rolled back: set before the first undo, so a re-run goes on undoing. */
  rollback?: string;
  /** Why it ended when it did not reach VERIFY_RESIZE. */
  outcome?: string;
  /** A revert once the destination's copy is gone: nothing may go back to VERIFY_RESIZE then. */
  revert?: 'destination-destroyed';
}

export interface ColdMigrationRecord {
  id: string;
  number: number;
  serverId: string;
  projectId: string;
  status: MigrationStatus;
  sourceHost: string;
  destHost: string | null;
  flavorId: string;
  flavor: FlavorShape;
  /** active or stopped: whether the guest runs again after the move (Nova keeps the power state). */
  oldVmState: VmState;
  requestId: string;
  cold: ColdMigrationState;
}

const COLUMNS = `id, number, server_id, project_id, status, source_host, dest_host, old_flavor_id, old_flavor, old_vm_state, request_id, cold`;

function fromRow(r: Record<string, any>): ColdMigrationRecord {
  return {
    id: r.id,
    number: Number(r.number),
    serverId: r.server_id,
    projectId: r.project_id,
    status: r.status,
    sourceHost: r.source_host,
    destHost: r.dest_host,
    flavorId: r.old_flavor_id,
    flavor: r.old_flavor,
    oldVmState: r.old_vm_state,
    requestId: r.request_id,
    cold: r.cold ?? {},
  };
}

export interface NewColdMigration {
  id: string;
  serverId: string;
  projectId: string;
  userId: string;
  sourceHost: string;
  flavorId: string;
  flavor: FlavorShape;
  oldVmState: VmState;
  requestId: string;
}

/** The record as the API writes it (pre-migrating, no destination yet). */
export async function insertColdMigration(db: Db, m: NewColdMigration): Promise<void> {
  await db.query(
    `INSERT INTO compute.migrations (id, server_id, project_id, user_id, migration_type, status, source_host, dest_host,
            old_flavor_id, old_flavor, new_flavor_id, new_flavor, old_vm_state, request_id, cold)
     VALUES ($1, $2, $3, $4, '${COLD_MIGRATION_TYPE}', 'pre-migrating', $5, NULL, $6, $7, $6, $7, $8, $9, '{}')`,
    [m.id, m.serverId, m.projectId, m.userId, m.sourceHost, m.flavorId, m.flavor, m.oldVmState, m.requestId],
  );
}

export async function getColdMigration(db: Db, id: string): Promise<ColdMigrationRecord | undefined> {
  const [row] = await db.query(`SELECT ${COLUMNS} FROM compute.migrations WHERE id = $1 AND migration_type = '${COLD_MIGRATION_TYPE}'`, [id]);
  return row ? fromRow(row) : undefined;
}

/**
 * Compare-and-set of the status (`from`), with the state and the destination in the same
 * statement; true when this call moved it.
 */
export async function setColdMigration(
  db: Db,
  id: string,
  from: MigrationStatus[],
  to: MigrationStatus,
  set: { cold?: ColdMigrationState; destHost?: string } = {},
): Promise<boolean> {
  const result = await db.query(
    `UPDATE compute.migrations SET status = $3, cold = COALESCE($4, cold), dest_host = COALESCE($5, dest_host), updated_at = now()
      WHERE id = $1 AND status = ANY($2) AND migration_type = '${COLD_MIGRATION_TYPE}'`,
    [id, from, to, set.cold ?? null, set.destHost ?? null],
  );
  return result[1] === 1;
}
