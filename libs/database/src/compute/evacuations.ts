/**
 * Evacuations in compute.migrations (migration_type 'evacuation', Nova's `evacuate`): the server's
 * host is down, the server is rebuilt on another one. Written by whoever asks (the API's
 * evacuate action, the scheduler's failover) and by the scheduler's workflow (each step in `live`,
 * the destination, the outcome). Statuses, as Nova names them for evacuations:
 *
 *   accepted -> pre-migrating -> done
 *   accepted -> error  (no host could take it: nothing moved)
 *   pre-migrating -> failed (the destination could not spawn it: the server is ERROR on its old host)
 *
 * The record's id is the placement consumer of the destination's claim until the move commits.
 * One open evacuation per server: the writers set the server's task state (`rebuilding`) in the
 * transaction that inserts the record.
 */
import { VmState } from '@nubo/contracts';
import { EntityManager } from 'typeorm';
import { FlavorShape } from './server-migrations';

type Db = Pick<EntityManager, 'query'>;

export const EVACUATION_TYPE = 'evacuation';

export type EvacuationStatus = 'accepted' | 'pre-migrating' | 'done' | 'error' | 'failed';
export const EVACUATION_OPEN_STATUSES: EvacuationStatus[] = ['accepted', 'pre-migrating'];

/** Steps of the workflow, in order; the record names the last one done. */
export const EVACUATION_STEPS = ['claimed', 'network-prepared', 'spawned', 'stopped', 'network-committed'] as const;
export type EvacuationStep = (typeof EVACUATION_STEPS)[number];

/** The scheduler's persisted state of one evacuation (kept in the record's `live` column). */
export interface EvacuationState {
  step?: EvacuationStep;
  /** Why it was asked for (an admin's request, the failover controller's reason). */
  reason?: string;
  /** Skip the scheduler's filters for the requested host (Nova's `force`), only its capacity claimed. */
  force?: boolean;
  /** The power state the destination's agent reported after the spawn (or stop). */
  powerState?: string;
  /** Why it ended when it did not complete. */
  outcome?: string;
}

export interface EvacuationRecord {
  id: string;
  number: number;
  serverId: string;
  projectId: string;
  status: EvacuationStatus;
  sourceHost: string;
  destHost: string | null;
  requestedHost: string | null;
  flavorId: string;
  flavor: FlavorShape;
  /** active, stopped or error when asked: stopped stays stopped on the new host. */
  oldVmState: VmState;
  requestId: string;
  state: EvacuationState;
}

const COLUMNS = `id, number, server_id, project_id, status, source_host, dest_host, requested_host, old_flavor_id, old_flavor, old_vm_state, request_id, live`;

function fromRow(r: Record<string, any>): EvacuationRecord {
  return {
    id: r.id,
    number: Number(r.number),
    serverId: r.server_id,
    projectId: r.project_id,
    status: r.status,
    sourceHost: r.source_host,
    destHost: r.dest_host,
    requestedHost: r.requested_host,
    flavorId: r.old_flavor_id,
    flavor: r.old_flavor,
    oldVmState: r.old_vm_state,
    requestId: r.request_id,
    state: r.live ?? {},
  };
}

export interface NewEvacuation {
  id: string;
  serverId: string;
  projectId: string;
  userId: string | null;
  sourceHost: string;
  requestedHost: string | null;
  force: boolean;
  reason: string;
  flavorId: string;
  flavor: FlavorShape;
  oldVmState: VmState;
  requestId: string;
}

/** The record as it is asked for (accepted, no destination yet). */
export async function insertEvacuation(db: Db, e: NewEvacuation): Promise<EvacuationRecord> {
  const state: EvacuationState = { reason: e.reason, ...(e.force ? { force: true } : {}) };
  const [row] = await db.query(
    `INSERT INTO compute.migrations (id, server_id, project_id, user_id, migration_type, status, source_host, dest_host, requested_host,
            old_flavor_id, old_flavor, new_flavor_id, new_flavor, old_vm_state, request_id, force_destination, live)
     VALUES ($1, $2, $3, $4, '${EVACUATION_TYPE}', 'accepted', $5, NULL, $6, $7, $8, $7, $8, $9, $10, $11, $12)
     RETURNING ${COLUMNS}`,
    [e.id, e.serverId, e.projectId, e.userId, e.sourceHost, e.requestedHost, e.flavorId, e.flavor, e.oldVmState, e.requestId, e.force, state],
  );
  return fromRow(row);
}

export async function getEvacuation(db: Db, id: string): Promise<EvacuationRecord | undefined> {
  const [row] = await db.query(`SELECT ${COLUMNS} FROM compute.migrations WHERE id = $1 AND migration_type = '${EVACUATION_TYPE}'`, [id]);
  return row ? fromRow(row) : undefined;
}

/** The server's evacuation that is not over, if any. */
export async function openEvacuation(db: Db, serverId: string): Promise<EvacuationRecord | undefined> {
  const [row] = await db.query(
    `SELECT ${COLUMNS} FROM compute.migrations WHERE server_id = $1 AND migration_type = '${EVACUATION_TYPE}' AND status = ANY($2)
      ORDER BY number DESC LIMIT 1`,
    [serverId, EVACUATION_OPEN_STATUSES],
  );
  return row ? fromRow(row) : undefined;
}

/** Compare-and-set of the status, with the state and the destination in the same statement; true when this call moved it. */
export async function setEvacuation(
  db: Db,
  id: string,
  from: EvacuationStatus[],
  to: EvacuationStatus,
  set: { state?: EvacuationState; destHost?: string } = {},
): Promise<boolean> {
  const result = await db.query(
    `UPDATE compute.migrations SET status = $3, live = COALESCE($4, live), dest_host = COALESCE($5, dest_host), updated_at = now()
      WHERE id = $1 AND status = ANY($2) AND migration_type = '${EVACUATION_TYPE}'`,
    [id, from, to, set.state ?? null, set.destHost ?? null],
  );
  return result[1] === 1;
}
