/**
 * Live migrations in compute.migrations (migration_type 'live-migration'), written by the API
 * (the record, an admin's abort or force-complete) and by the scheduler's workflow (every step,
 * then the outcome). Statuses, as Nova names them for live migrations:
 *
 *   queued -> preparing -> running -> post-migrating -> completed
 *   queued | preparing | running -> error | cancelled (aborted)
 *   post-migrating -> error (past the switch-over: the destination could not be finished, or the
 *                    source not cleaned up)
 *
 * As in Nova, the server is ACTIVE on the destination (host moved, task state cleared) while the
 * record is still post-migrating: `completed` comes once the source QEMU is gone.
 *
 * The record's id (a uuid, Nova's migration `uuid`) is the placement consumer of the destination's
 * claim from the choice of the destination until the move commits; `number` is Nova's integer id.
 */
import { VmState } from '@nubo/contracts';
import { EntityManager } from 'typeorm';
import { FlavorShape } from './server-migrations';

type Db = Pick<EntityManager, 'query'>;

export const LIVE_MIGRATION_TYPE = 'live-migration';

export type LiveMigrationStatus = 'queued' | 'preparing' | 'running' | 'post-migrating' | 'completed' | 'error' | 'cancelled';

/** Statuses of a live migration not over yet (Nova's in-progress ones for /servers/{id}/migrations). */
export const LIVE_OPEN_STATUSES: LiveMigrationStatus[] = ['queued', 'preparing', 'running', 'post-migrating'];

export interface MigrationBytes {
  totalBytes: number;
  processedBytes: number;
  remainingBytes: number;
}

export interface LiveMigrationProgress {
  memory: MigrationBytes;
  disk?: MigrationBytes;
  phase: string;
  at: string;
}

/** The scheduler's persisted state of one live migration (see server-live-migrate.workflow.ts). */
export interface LiveMigrationState {
  /** The last step done: a re-run resumes after it. */
  step?:
    | 'claimed'
    | 'network-prepared'
    | 'destination-prepared'
    | 'started'
    | 'switched-over'
    | 'destination-finished'
    | 'committed'
    | 'rolled-back';
  prepare?: { port: number; nbd?: { port: number; exports: Array<{ node: string; name: string }> } };
  /** The destination agent's agent_started_at once it prepared: another one since has lost that QEMU. */
  destinationAgentStartedAt?: string | null;
  startedAt?: string;
  postcopyAllowed?: boolean;
  downtimeBaseMs?: number;
  /** Downtime steps taken (0: the base limit). */
  downtimeStep?: number;
  lastEscalationAt?: string;
  postcopy?: boolean;
  /** Why it ended when it did not complete: 'timeout', 'aborted', or the failure's message. */
  outcome?: string;
  /** The convergence actions taken, in order (downtime-<ms>, postcopy, abort-timeout). */
  actions?: string[];
  downtimeMs?: number;
  /**
   * Committed (the server ACTIVE on the destination) before the source QEMU is removed: 'pending'
   * until that is done. Records written before this field have none.
   */
  sourceCleanup?: 'pending' | 'done';
  /** When each step was reached, in ms after the record was created (the API's request): where the time goes. */
  timings?: Record<string, number>;
  /** Status polls it took (summed over resumed poll loops), and how long the last loop's status calls took. */
  polls?: number;
  pollRpcMs?: { max: number; total: number };
}

export interface LiveMigrationRecord {
  id: string;
  number: number;
  serverId: string;
  projectId: string;
  userId: string | null;
  status: LiveMigrationStatus;
  sourceHost: string;
  destHost: string | null;
  requestedHost: string | null;
  /** Nova's `force` (or a host named before 2.30): the requested host is used as given, only its capacity is claimed. */
  forceDestination: boolean;
  blockMigration: boolean;
  flavorId: string;
  flavor: FlavorShape;
  oldVmState: VmState;
  requestId: string;
  live: LiveMigrationState;
  progress: LiveMigrationProgress | null;
  abortRequestedAt: Date | null;
  forceCompleteRequestedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, number, server_id, project_id, user_id, status, source_host, dest_host, requested_host, force_destination, block_migration,
  old_flavor_id, old_flavor, old_vm_state, request_id, live, progress, abort_requested_at, force_complete_requested_at,
  created_at, updated_at`;

function fromRow(r: Record<string, any>): LiveMigrationRecord {
  return {
    id: r.id,
    number: Number(r.number),
    serverId: r.server_id,
    projectId: r.project_id,
    userId: r.user_id,
    status: r.status,
    sourceHost: r.source_host,
    destHost: r.dest_host,
    requestedHost: r.requested_host,
    forceDestination: r.force_destination === true,
    blockMigration: r.block_migration === true,
    flavorId: r.old_flavor_id,
    flavor: r.old_flavor,
    oldVmState: r.old_vm_state,
    requestId: r.request_id,
    live: r.live ?? {},
    progress: r.progress,
    abortRequestedAt: r.abort_requested_at,
    forceCompleteRequestedAt: r.force_complete_requested_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface NewLiveMigration {
  id: string;
  serverId: string;
  projectId: string;
  userId: string;
  sourceHost: string;
  requestedHost: string | null;
  /** Skip the scheduler's filters for the requested host (absent: false). */
  forceDestination?: boolean;
  blockMigration: boolean;
  flavorId: string;
  flavor: FlavorShape;
  oldVmState: VmState;
  requestId: string;
}

/** The record as the API writes it (status queued); returns it with its number. */
export async function insertLiveMigration(db: Db, m: NewLiveMigration): Promise<LiveMigrationRecord> {
  const [row] = await db.query(
    `INSERT INTO compute.migrations (id, server_id, project_id, user_id, migration_type, status, source_host, dest_host, requested_host,
            block_migration, old_flavor_id, old_flavor, new_flavor_id, new_flavor, old_vm_state, request_id, force_destination)
     VALUES ($1, $2, $3, $4, '${LIVE_MIGRATION_TYPE}', 'queued', $5, NULL, $6, $7, $8, $9, $8, $9, $10, $11, $12)
     RETURNING ${COLUMNS}`,
    [m.id, m.serverId, m.projectId, m.userId, m.sourceHost, m.requestedHost, m.blockMigration, m.flavorId, m.flavor, m.oldVmState, m.requestId, m.forceDestination === true],
  );
  return fromRow(row);
}

export async function getLiveMigration(db: Db, id: string): Promise<LiveMigrationRecord | undefined> {
  const [row] = await db.query(`SELECT ${COLUMNS} FROM compute.migrations WHERE id = $1 AND migration_type = '${LIVE_MIGRATION_TYPE}'`, [id]);
  return row ? fromRow(row) : undefined;
}

/** A server's live migration by Nova's integer id. */
export async function getLiveMigrationByNumber(db: Db, serverId: string, number: number): Promise<LiveMigrationRecord | undefined> {
  const [row] = await db.query(
    `SELECT ${COLUMNS} FROM compute.migrations WHERE server_id = $1 AND number = $2 AND migration_type = '${LIVE_MIGRATION_TYPE}'`,
    [serverId, number],
  );
  return row ? fromRow(row) : undefined;
}

/** A server's live migrations that are not over (Nova's GET /servers/{id}/migrations). */
export async function openLiveMigrations(db: Db, serverId: string): Promise<LiveMigrationRecord[]> {
  const rows = await db.query(
    `SELECT ${COLUMNS} FROM compute.migrations WHERE server_id = $1 AND migration_type = '${LIVE_MIGRATION_TYPE}' AND status = ANY($2) ORDER BY number`,
    [serverId, LIVE_OPEN_STATUSES],
  );
  return rows.map(fromRow);
}

/**
 * Compare-and-set of the status, with other columns in the same statement; true when this call
 * moved it. `unlessAborted`: also false (nothing written) once an admin asked for an abort.
 */
export async function setLiveMigration(
  db: Db,
  id: string,
  from: LiveMigrationStatus[],
  to: LiveMigrationStatus,
  set: { live?: LiveMigrationState; destHost?: string; progress?: LiveMigrationProgress; unlessAborted?: boolean } = {},
): Promise<boolean> {
  const result = await db.query(
    `UPDATE compute.migrations SET status = $3, live = COALESCE($4, live), dest_host = COALESCE($5, dest_host),
            progress = COALESCE($6, progress), updated_at = now()
      WHERE id = $1 AND status = ANY($2)${set.unlessAborted ? ' AND abort_requested_at IS NULL' : ''}`,
    [id, from, to, set.live ?? null, set.destHost ?? null, set.progress ?? null],
  );
  return result[1] === 1;
}

/** Ms since the record was created (the API's request), for `live.timings`. */
export function sinceCreated(m: Pick<LiveMigrationRecord, 'createdAt'>, now = Date.now()): number {
  return Math.max(0, now - new Date(m.createdAt).getTime());
}

/**
 * The server's live migrations whose source has not been cleaned up yet (the server runs on the
 * destination; the source QEMU is still to go: still post-migrating, or an error after too many
 * tries), oldest first.
 */
export async function uncleanedLiveMigrations(db: Db, serverId: string): Promise<LiveMigrationRecord[]> {
  const rows = await db.query(
    `SELECT ${COLUMNS} FROM compute.migrations
      WHERE server_id = $1 AND migration_type = '${LIVE_MIGRATION_TYPE}' AND live->>'sourceCleanup' = 'pending' ORDER BY number`,
    [serverId],
  );
  return rows.map(fromRow);
}
