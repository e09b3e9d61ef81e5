/**
 * server.create: place, then spawn on the chosen host's agent, then mark ACTIVE. Each step is
 * persisted before the next, so a re-run (stalled job, retry) resumes where the last run stopped:
 * a placed server is not placed again, and spawn is idempotent on the agent.
 *
 * An agent that does not answer (killed, restarting) is asked again on the SAME host with the
 * claim the server holds (AgentRetry): a QEMU may already run there, so the server is never built
 * elsewhere. If the host goes down, the server goes to ERROR and keeps its host and claim until
 * it is deleted or its host comes back. An agent that ANSWERS the spawn with an error has left
 * nothing behind: the server is rescheduled on another host (CreateReschedule), up to
 * NUBO_SCHEDULER_MAX_ATTEMPTS spawns.
 *
 * A server created with `networks` has its ports bound to the chosen host before spawn
 * (ServerNetworks; the spawn gets their NICs). A bind the network service ANSWERS with an error
 * fails the build like a spawn error (rescheduled, after an unbind, unless the request itself is
 * at fault); a bind it does not answer is asked again by the job on the same host. Every build
 * that leaves the host (reschedule, ERROR with the VM destroyed) unbinds first; a server without
 * networks never calls the network service.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ConflictError,
  ForbiddenError,
  InstanceStatus,
  NoValidHostError,
  NotFoundError,
  NuboError,
  PowerState,
  QuotaExceededError,
  RequestedNetwork,
  ServerJob,
  TaskState,
  ValidationError,
  VmState,
} from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { recordBuildSuccess } from '../placement/build-failures';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
import { AgentRetry, isUnanswered } from './agent-retry';
import { CreateReschedule } from './create-reschedule';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { ServerFaults } from './server-faults';
import { ServerNetworks } from './server-networks';

type Ctx = { opId: string; requestId: string };
/** What one placement + spawn round ends with; 'again' goes round once more (rescheduled). */
type Round = JobOutcome | 'again';

/** Bind errors that say the request itself is wrong (another host would answer the same): no reschedule. */
function isRequestError(error: unknown): boolean {
  return [ValidationError, NotFoundError, ConflictError, QuotaExceededError, ForbiddenError].some((E) => error instanceof E);
}

@Injectable()
export class ServerCreateWorkflow {
  private readonly logger = new Logger(ServerCreateWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(ServerFaults) private readonly faults: ServerFaults,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
    @Inject(PlacementInputBuilder) private readonly inputs: PlacementInputBuilder,
    @Inject(CreateReschedule) private readonly reschedule: CreateReschedule,
    @Inject(RpcClient) rpc: RpcClient,
  ) {
    this.networks = new ServerNetworks(db, rpc);
  }

  readonly networks: ServerNetworks;

  async run({ serverId, requestId }: ServerJob, job: Job<ServerJob>): Promise<JobOutcome> {
    const ctx = { opId: String(job.id), requestId };
    for (;;) {
      const outcome = await this.round(serverId, ctx, job);
      if (outcome !== 'again') return outcome;
    }
  }

  private async round(serverId: string, ctx: Ctx, job: Job<ServerJob>): Promise<Round> {
    let server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    if (!server || server.deletedAt || server.taskState === TaskState.Deleting) return 'skipped';
    if (server.vmState !== VmState.Building) return 'skipped';

    if (server.taskState === TaskState.Scheduling) {
      const placed = await this.place(server, ctx, job);
      if (placed !== 'placed') return placed;
      server = (await this.db.getRepository(ServerEntity).findOneBy({ id: serverId }))!;
    }
    const hostId = server.hostId!;

    let status: InstanceStatus;
    let asked = false;
    let binding = false;
    const requested = await this.networks.requested(serverId);
    try {
      const spec = await this.specs.build(server);
      if (requested.length) {
        binding = true;
        spec.nics = await this.networks.bind(server, hostId, requested, ctx);
        binding = false;
      }
      asked = true;
      status = await withActionEvent(this.db, { serverId, requestId: ctx.requestId, event: 'compute__do_build_and_run_instance', host: hostId }, () =>
        this.retry.call(hostId, `spawn of ${serverId}`, () => this.agents.spawn(hostId, spec, ctx)),
      );
    } catch (error) {
      if (binding) return this.bindFailed(server, hostId, requested, error, ctx, job);
      // The image store did not answer: a later attempt of the job asks again.
      if (!asked && isUnanswered(error) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
      if (asked && isUnanswered(error)) {
        // Its QEMU may run there: keep the host and the claim (no second copy anywhere else).
        await this.faults.fail(serverId, 'Build interrupted: the host stopped answering', { releaseClaims: false, details: (error as Error).message });
        return 'failed';
      }
      // The agent answered with an error; spawn leaves nothing behind, destroy makes sure of it.
      const cleaned = await this.retry.call(hostId, `destroy of ${serverId}`, () => this.agents.destroy(hostId, serverId, ctx)).then(
        () => true,
        () => false,
      );
      const message = error instanceof NuboError ? error.message : `spawn failed: ${(error as Error).message}`;
      // The VM is gone: its ports go too, before another host may bind them.
      const unbound = cleaned ? await this.unbindQuietly(serverId, requested, ctx) : false;
      if (asked && cleaned && unbound) {
        const next = await this.reschedule.afterSpawnFailure(serverId, hostId, message);
        return next === 'rescheduled' ? 'again' : next === 'failed' ? 'failed' : 'skipped';
      }
      await this.faults.fail(serverId, message, { releaseClaims: cleaned });
      return 'failed';
    }

    const activated = await this.db.query(
      `UPDATE compute.servers SET vm_state = $2, task_state = NULL, power_state = $3, launched_at = now(), updated_at = now()
        WHERE id = $1 AND task_state = $4 AND deleted_at IS NULL`,
      [serverId, VmState.Active, status.powerState ?? PowerState.Running, TaskState.Spawning],
    );
    if (activated[1] !== 1) {
      // Deleted while spawning: whichever of this job and the delete job comes last destroys it.
      this.logger.log(`server ${serverId} was deleted while spawning; destroying it on ${hostId}`);
      // If the host went down meanwhile, the heartbeat sync reaps the copy when it returns.
      await this.retry.call(hostId, `destroy of ${serverId}`, () => this.agents.destroy(hostId, serverId, ctx)).catch((error: Error) =>
        this.logger.warn(`server ${serverId}: destroy on ${hostId} after its delete failed: ${error.message}`),
      );
      // The delete job may have unbound before this job bound: unbind again (idempotent).
      await this.unbindQuietly(serverId, requested, ctx);
      return 'skipped';
    }
    await recordBuildSuccess(this.db, hostId);
    this.logger.log(`server ${serverId} ACTIVE on ${hostId} (pid ${status.pid ?? '?'}) requestId=${ctx.requestId}`);
    return 'done';
  }

  /**
   * The network service did not bind the ports. Not answered: the job asks again (same host, same
   * claim; bind is idempotent) while it has attempts. Answered: nothing was spawned, so destroy
   * (in case a re-run of the job had spawned) and unbind, then reschedule like a spawn error, or
   * ERROR when the request itself is at fault or the host could not be cleaned.
   */
  private async bindFailed(server: ServerEntity, hostId: string, requested: RequestedNetwork[], error: unknown, ctx: Ctx, job: Job<ServerJob>): Promise<Round> {
    const serverId = server.id;
    if (isUnanswered(error) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
    const message = `Binding the server's ports failed: ${(error as Error).message}`;
    const cleaned = await this.retry.call(hostId, `destroy of ${serverId}`, () => this.agents.destroy(hostId, serverId, ctx)).then(
      () => true,
      () => false,
    );
    const unbound = await this.unbindQuietly(serverId, requested, ctx);
    if (!isUnanswered(error) && !isRequestError(error) && cleaned && unbound) {
      const next = await this.reschedule.afterSpawnFailure(serverId, hostId, message);
      return next === 'rescheduled' ? 'again' : next === 'failed' ? 'failed' : 'skipped';
    }
    await this.faults.fail(serverId, message, { releaseClaims: cleaned });
    return 'failed';
  }

  /** Unbinds a server's ports (none asked for: nothing to do); false when the network service failed. */
  private async unbindQuietly(serverId: string, requested: RequestedNetwork[], ctx: Ctx): Promise<boolean> {
    if (!requested.length) return true;
    try {
      await this.networks.unbind(serverId, ctx);
      return true;
    } catch (error) {
      this.logger.warn(`server ${serverId}: unbind failed: ${(error as Error).message}; its ports go with the server's delete`);
      return false;
    }
  }

  /** Places a server in `scheduling`; anything but 'placed' ends the job with that outcome. */
  private async place(server: ServerEntity, ctx: Ctx, job: Job<ServerJob>): Promise<'placed' | JobOutcome> {
    let attempt = 1;
    try {
      const built = await this.inputs.build(server, ctx.requestId);
      attempt = built.attempt;
      const hostId = await this.placement.claimForServer(server.id, built.input, { attempt });
      return hostId ? 'placed' : 'skipped';
    } catch (error) {
      if (error instanceof NoValidHostError) {
        if (attempt > 1) await this.reschedule.exhausted(server.id, error.message);
        else await this.faults.fail(server.id, error.message, { releaseClaims: false });
        return 'failed';
      }
      // The image store did not answer (image properties): a later attempt of the job asks again.
      if (isUnanswered(error) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
      if (error instanceof NuboError) {
        await this.faults.fail(server.id, error.message, { releaseClaims: false });
        return 'failed';
      }
      throw error;
    }
  }
}
