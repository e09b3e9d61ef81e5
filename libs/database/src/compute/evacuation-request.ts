/**
 * Asking for an evacuation, as the API's evacuate action and the scheduler's failover both do:
 * Nova's checks in Nova's words, then in ONE transaction the server's task state `rebuilding`
 * (compare-and-set), the evacuation record (accepted) and the `evacuate` instance action. The
 * caller enqueues `server.evacuate` afterwards (and undoes with `abandonEvacuation` when it
 * cannot). Idempotent for the failover: a server with an open evacuation gets that one back.
 */
import { ConflictError, NotFoundError, TaskState, ValidationError, VmState } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { EvacuationRecord, insertEvacuation, openEvacuation, setEvacuation } from './evacuations';
import { recordAction } from './instance-actions';

/** Nova's check_instance_state for evacuate. */
export const EVACUATE_FROM: VmState[] = [VmState.Active, VmState.Stopped, VmState.Error];
/** A disabled host's service is down once its heartbeat is this old (the API's SERVICE_DOWN_AFTER_MS). */
export const SERVICE_DOWN_AFTER_S = 60;

export interface EvacuationRequest {
  id: string;
  serverId: string;
  requestedHost: string | null;
  force: boolean;
  reason: string;
  userId: string;
  requestId: string;
  /** An open evacuation of the server is returned as it is instead of a 409 (the failover's retries). */
  reuseOpen?: boolean;
}

export async function requestEvacuation(db: DataSource, r: EvacuationRequest): Promise<{ record: EvacuationRecord; created: boolean }> {
  return db.transaction(async (tx) => {
    const [server]: Array<Record<string, any>> = await tx.query(
      `SELECT id, project_id, host_id, vm_state, task_state, flavor_id, flavor FROM compute.servers WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`,
      [r.serverId],
    );
    if (!server) throw new NotFoundError(`Instance ${r.serverId} could not be found.`);
    if (r.reuseOpen) {
      const open = await openEvacuation(tx, r.serverId);
      if (open) return { record: open, created: false };
    }
    const source: string | null = server.host_id;
    if (r.requestedHost !== null) {
      const [host] = await tx.query(`SELECT id FROM compute.hosts WHERE id = $1`, [r.requestedHost]);
      if (!host) throw new NotFoundError(`Compute host ${r.requestedHost} not found.`);
      if (r.requestedHost === source) throw new ValidationError("The target host can't be the same one.", 'host');
    }
    if (server.task_state) throw new ConflictError(`Cannot 'evacuate' instance ${r.serverId} while it is in task_state ${server.task_state}`);
    if (!EVACUATE_FROM.includes(server.vm_state) || !source) {
      throw new ConflictError(`Cannot 'evacuate' instance ${r.serverId} while it is in vm_state ${server.vm_state}`);
    }
    await assertHostDown(tx, source);
    const claimed = await tx.query(`UPDATE compute.servers SET task_state = $2, updated_at = now() WHERE id = $1 AND task_state IS NULL`, [
      r.serverId,
      TaskState.Rebuilding,
    ]);
    if (claimed[1] !== 1) throw new ConflictError(`Cannot 'evacuate' instance ${r.serverId} while it is in task_state ${TaskState.Rebuilding}`);
    const record = await insertEvacuation(tx, {
      id: r.id,
      serverId: r.serverId,
      projectId: server.project_id,
      userId: r.userId,
      sourceHost: source,
      requestedHost: r.requestedHost,
      force: r.force,
      reason: r.reason,
      flavorId: server.flavor_id,
      flavor: server.flavor,
      oldVmState: server.vm_state,
      requestId: r.requestId,
    });
    await recordAction(tx, { serverId: r.serverId, projectId: server.project_id, userId: r.userId, action: 'evacuate', requestId: r.requestId });
    return { record, created: true };
  });
}

/**
 * Nova's ComputeServiceInUse: a host whose compute service is up keeps its servers. Up as
 * os-services shows it: not forced down, and `up` (or disabled / in maintenance with a heartbeat
 * in the last SERVICE_DOWN_AFTER_S).
 */
async function assertHostDown(tx: EntityManager, hostId: string): Promise<void> {
  const [host]: Array<{ up: boolean }> = await tx.query(
    `SELECT NOT forced_down AND (state = 'up' OR (state IN ('disabled', 'maintenance') AND last_heartbeat_at > now() - make_interval(secs => $2))) AS up
       FROM compute.hosts WHERE id = $1`,
    [hostId, SERVICE_DOWN_AFTER_S],
  );
  if (host?.up) throw new ValidationError(`Compute service of ${hostId} is still in use.`, 'host');
}

/** The job could not be queued: the server idle again, the record `error` (only while nothing was claimed). */
export async function abandonEvacuation(db: DataSource, record: EvacuationRecord, why: string): Promise<void> {
  await db.transaction(async (tx) => {
    if (await setEvacuation(tx, record.id, ['accepted'], 'error', { state: { ...record.state, outcome: why } })) {
      await tx.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1 AND task_state = $2`, [record.serverId, TaskState.Rebuilding]);
    }
  });
}
