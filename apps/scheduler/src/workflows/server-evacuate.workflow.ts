/**
 * server.evacuate (Nova's evacuate): the server's host is down; the server is rebuilt on another
 * one. Every step is written to the evacuation record (`live.step`) before the next, so a re-run
 * (a retry, a scheduler that died) resumes after the last step done; every call it repeats is
 * idempotent on the other side (spawn per server, the port moves per destination).
 *
 *   accepted        claim a new host (every filter, the failed host excluded)       -> claimed (pre-migrating)
 *   claimed         the server's ports plumbed on the new host (only with ports)     -> network-prepared
 *                   spawn on the new host: a shared-storage server boots from its
 *                   disk as it was; a local one from its image (its disk is lost)     -> spawned
 *                   stopped before: stopped again (Nova keeps stopped servers stopped) -> stopped
 *                   the ports bound to the new host                                   -> network-committed
 *   then ONE transaction: host, the failed host's claim dropped, the new claim the server's,
 *   task state cleared, vm_state as before (active for an ERROR server, as Nova), record done.
 *
 * The failed host's copy is never touched (the host is down; its agent drops instances that are
 * not its own when it comes back). No host to take the server: the record `error`, the server
 * where and as it was (idle). The new host answering the spawn with an error: its copy destroyed
 * (shared disks kept), the ports back, the claim released, the record `failed`, the server ERROR
 * on its failed host (as Nova's failed rebuild).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InstanceSpec, NuboError, PowerState, ServerEvacuateJob, TaskState, VmState } from '@nubo/contracts';
import {
  EVACUATION_OPEN_STATUSES,
  EVACUATION_STEPS,
  EvacuationRecord,
  EvacuationState,
  EvacuationStep,
  ServerEntity,
  getEvacuation,
  setEvacuation,
  withActionEvent,
} from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { AgentClient } from './agent-client';
import { AgentRetry, isUnanswered } from './agent-retry';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { EvacuateClaims } from './server-evacuate-claims';
import { EvacuationNetwork } from './server-evacuate-network';

type Ctx = { opId: string; requestId: string };

const reached = (e: EvacuationRecord, step: EvacuationStep) =>
  e.state.step !== undefined && EVACUATION_STEPS.indexOf(e.state.step) >= EVACUATION_STEPS.indexOf(step);

/** What an evacuation's event says about the disk: kept (shared storage) or lost and rebuilt. Pure. */
export function diskNote(source: string, spec: Pick<InstanceSpec, 'storage'>, imageRef: string | null): string {
  if (spec.storage === 'shared') return `Evacuated from ${source}: booted from its disk on shared storage`;
  return `Evacuated from ${source}: local disk lost, ${imageRef ? `rebuilt from image ${imageRef}` : 'rebuilt without an image'}`;
}

@Injectable()
export class ServerEvacuateWorkflow {
  private readonly logger = new Logger(ServerEvacuateWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(EvacuateClaims) private readonly claims: EvacuateClaims,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
    @Inject(PlacementInputBuilder) private readonly inputs: PlacementInputBuilder,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(EvacuationNetwork) private readonly network: EvacuationNetwork,
  ) {}

  async run(data: ServerEvacuateJob, job: Job<ServerEvacuateJob>): Promise<JobOutcome> {
    let e = await getEvacuation(this.db, data.migrationId);
    if (!e || e.serverId !== data.serverId || !EVACUATION_OPEN_STATUSES.includes(e.status)) return 'skipped';
    const ctx: Ctx = { opId: `evacuate-${e.id}`, requestId: e.requestId };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: e.serverId });
    if (!server || server.deletedAt || server.taskState !== TaskState.Rebuilding || server.hostId !== e.sourceHost) {
      // Deleted meanwhile (its delete destroys what it finds): the record closes, the claim goes.
      await this.close(e, 'error', 'the server left the evacuation before the move');
      return 'skipped';
    }
    if (!reached(e, 'claimed')) {
      try {
        const { input } = await this.inputs.build(server, ctx.requestId);
        const claimed = await withActionEvent(this.db, { serverId: e.serverId, requestId: ctx.requestId, event: 'conductor_rebuild_server' }, () =>
          this.claims.claim(e!, input),
        );
        if (claimed === 'gone') return 'skipped';
      } catch (error) {
        if (retryable(error) && !lastAttempt) throw error;
        return this.noHost(e, messageOf(error));
      }
      e = (await getEvacuation(this.db, e.id))!;
    }
    const dest = e.destHost!;
    let ports = false;
    try {
      const spec = await this.specs.build(server, ctx.requestId);
      ports = (spec.nics?.length ?? 0) > 0;
      if (!reached(e, 'network-prepared')) {
        if (ports) await this.network.call('prepare', e.serverId, dest, ctx);
        e = await this.step(e, { step: 'network-prepared' });
      }
      if (!reached(e, 'spawned')) {
        const event = { serverId: e.serverId, requestId: ctx.requestId, event: 'compute_rebuild_instance', host: dest };
        const status = await withActionEvent(this.db, event, () => this.retry.call(dest, `spawn of ${e!.serverId}`, () => this.agents.spawn(dest, spec, ctx)));
        await this.note(e, dest, diskNote(e.sourceHost, spec, server.imageRef ?? null), ctx);
        e = await this.step(e, { step: 'spawned', powerState: status.powerState ?? PowerState.Running });
      }
      if (e.oldVmState === VmState.Stopped && !reached(e, 'stopped')) {
        const status = await this.retry.call(dest, `stop of ${e.serverId}`, () => this.agents.stop(dest, e!.serverId, 0, ctx));
        e = await this.step(e, { step: 'stopped', powerState: status.powerState ?? PowerState.Shutdown });
      }
      if (!reached(e, 'network-committed')) {
        if (ports) await this.network.call('commit', e.serverId, dest, ctx);
        e = await this.step(e, { step: 'network-committed' });
      }
    } catch (error) {
      if (error instanceof Moved) return 'skipped';
      if (retryable(error) && !lastAttempt) throw error;
      return this.spawnFailed(e, messageOf(error), ctx, { ports });
    }
    return this.commit(e, ctx);
  }

  /** ONE transaction: the server on the new host, the claims, the record done. */
  private async commit(e: EvacuationRecord, ctx: Ctx): Promise<JobOutcome> {
    const dest = e.destHost!;
    const stopped = e.oldVmState === VmState.Stopped;
    const set = { vmState: stopped ? VmState.Stopped : VmState.Active, powerState: e.state.powerState ?? (stopped ? PowerState.Shutdown : PowerState.Running) };
    const moved = await this.db.transaction(async (tx) => {
      if (!(await this.claims.commitMove(tx, { ...e, destHost: dest }, set))) return false;
      if (!(await setEvacuation(tx, e.id, ['pre-migrating'], 'done'))) throw new Error(`evacuation ${e.id} is no longer pre-migrating`);
      return true;
    });
    if (!moved) {
      await this.close(e, 'failed', 'the server left the evacuation before the move');
      this.logger.warn(`evacuation ${e.id}: server ${e.serverId} is no longer being evacuated from ${e.sourceHost}; nothing moved`);
      return 'skipped';
    }
    this.logger.log(`server ${e.serverId} evacuated from ${e.sourceHost} to ${dest} migrationId=${e.id} requestId=${ctx.requestId}`);
    return 'done';
  }

  /** No host could take the server: the record `error`, the server idle where it was, vm_state unchanged (Nova). */
  private async noHost(e: EvacuationRecord, message: string): Promise<JobOutcome> {
    await this.db.transaction(async (tx) => {
      await this.claims.release(tx, e);
      await setEvacuation(tx, e.id, EVACUATION_OPEN_STATUSES, 'error', { state: { ...e.state, outcome: message } });
      await tx.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [e.serverId, TaskState.Rebuilding]);
    });
    this.logger.warn(`evacuation ${e.id} of server ${e.serverId} from ${e.sourceHost}: ${message}`);
    return 'failed';
  }

  /**
   * The new host could not run the server: its copy goes (never the shared disks: they are the
   * server's), the ports stay on the failed host, the claim goes; the server ERROR where it was.
   */
  private async spawnFailed(e: EvacuationRecord, message: string, ctx: Ctx, o: { ports: boolean }): Promise<JobOutcome> {
    const dest = e.destHost!;
    const problems: string[] = [];
    await this.agents.destroy(dest, e.serverId, ctx).catch((error: Error) => problems.push(`destroy: ${error.message}`));
    if (o.ports) await this.network.call('abort', e.serverId, dest, ctx).catch((error: Error) => problems.push(`network abort: ${error.message}`));
    const fault = { code: 500, message: `Evacuation to ${dest} failed: ${message}`, created: new Date().toISOString() };
    await this.db.transaction(async (tx) => {
      await this.claims.release(tx, e);
      await setEvacuation(tx, e.id, EVACUATION_OPEN_STATUSES, 'failed', { state: { ...e.state, outcome: message } });
      await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, fault = $4, updated_at = now() WHERE id = $1 AND task_state = $2`,
        [e.serverId, TaskState.Rebuilding, VmState.Error, fault],
      );
    });
    const extra = problems.length ? ` (cleanup: ${problems.join('; ')})` : '';
    this.logger.warn(`evacuation ${e.id} of server ${e.serverId} to ${dest} failed: ${message}${extra}`);
    return 'failed';
  }

  /** Closes a record whose server left it: its claim goes, nothing else changes. */
  private async close(e: EvacuationRecord, status: 'error' | 'failed', outcome: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.claims.release(tx, e);
      await setEvacuation(tx, e.id, EVACUATION_OPEN_STATUSES, status, { state: { ...e.state, outcome } });
    });
  }

  /** Persists a step (Moved when the record is no longer pre-migrating). */
  private async step(e: EvacuationRecord, set: EvacuationState): Promise<EvacuationRecord> {
    const state = { ...e.state, ...set };
    if (!(await setEvacuation(this.db, e.id, ['pre-migrating'], 'pre-migrating', { state }))) throw new Moved();
    return { ...e, state };
  }

  /** An event of the evacuate action, finished, with what happened to the disk. */
  private async note(e: EvacuationRecord, host: string, details: string, ctx: Ctx): Promise<void> {
    await this.db.query(
      `INSERT INTO compute.instance_action_events (action_id, event, host, result, details, finish_time)
       SELECT id, 'compute_evacuate_disk', $3, 'Success', $4, now() FROM compute.instance_actions WHERE server_id = $1 AND request_id = $2
        AND NOT EXISTS (SELECT 1 FROM compute.instance_action_events ev JOIN compute.instance_actions a ON a.id = ev.action_id
                         WHERE a.server_id = $1 AND a.request_id = $2 AND ev.event = 'compute_evacuate_disk')`,
      [e.serverId, ctx.requestId, host, details],
    );
  }
}

/** The record moved on under this run (another run finished it). */
class Moved extends Error {}

/** Not answered (or not a domain error: the database, a bug): the job tries again while it has attempts. */
const retryable = (error: unknown) => isUnanswered(error) || !(error instanceof NuboError);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
