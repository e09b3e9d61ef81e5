/**
 * Nova's trigger_crash_dump action (microversion 2.17; 404 before): {"trigger_crash_dump": null}.
 * Nova accepts it from these vm_states with no task in flight (409 otherwise), records the action
 * and casts to the compute host, whose driver injects an NMI. Nubo's agent has no NMI call yet,
 * so the request ends the way Nova's does on a driver without it: 202, and the action's event
 * fails with TriggerCrashDumpNotSupported's message.
 */
import { ConflictError, VmState } from '@nubo/contracts';
import { ServerEntity, recordAction, withActionEvent } from '@nubo/database';
import { EntityManager } from 'typeorm';
import { invalid } from '../common/validation';
import { requireVersion } from './microversion';

export const CRASH_DUMP_ACTION = 'trigger_crash_dump';
export const CRASH_DUMP_FROM: VmState[] = [VmState.Active, VmState.Paused, VmState.Resized, VmState.Error];
export const CRASH_DUMP_UNSUPPORTED = 'Triggering crash dump is not supported';

export function parseCrashDump(body: Record<string, unknown>, version: string): void {
  requireVersion(version, '2.17');
  if (body[CRASH_DUMP_ACTION] !== null) invalid(CRASH_DUMP_ACTION, body[CRASH_DUMP_ACTION] as never, `${JSON.stringify(body[CRASH_DUMP_ACTION])} is not of type 'null'`);
}

export async function triggerCrashDump(
  db: Pick<EntityManager, 'query'>,
  server: ServerEntity,
  o: { userId: string; requestId: string },
): Promise<void> {
  if (server.taskState) throw new ConflictError(`Cannot '${CRASH_DUMP_ACTION}' instance ${server.id} while it is in task_state ${server.taskState}`);
  if (!CRASH_DUMP_FROM.includes(server.vmState)) throw new ConflictError(`Cannot '${CRASH_DUMP_ACTION}' instance ${server.id} while it is in vm_state ${server.vmState}`);
  await recordAction(db, { serverId: server.id, projectId: server.projectId, userId: o.userId, action: CRASH_DUMP_ACTION, requestId: o.requestId });
  await withActionEvent(db, { serverId: server.id, requestId: o.requestId, event: 'compute_trigger_crash_dump', host: server.hostId }, async () => {
    throw new Error(CRASH_DUMP_UNSUPPORTED);
  }).catch(() => undefined);
}
