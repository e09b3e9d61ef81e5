/**
 * server.create: place, then spawn on the chosen host's agent, then mark ACTIVE. Each step is
 * persisted before the next, so a re-run (stalled job, retry) resumes where the last run stopped:
 * a placed server is not placed again, and spawn is idempotent on the agent.
 *
 * An agent that does not answer (killed, restarting) is asked again on the SAME host with the
 * claim the server holds (AgentRetry): a QEMU may already run there, so the server is never built
 * elsewhere. If the host goes down, the server goes to ERROR and keeps its host and claim until
 * it is deleted or its host comes back.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InstanceStatus, NoValidHostError, NuboError, PowerState, ServerJob, TaskState, VmState } from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
import { AgentRetry, isUnanswered } from './agent-retry';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { ServerFaults } from './server-faults';

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
  ) {}

  async run({ serverId, requestId }: ServerJob, job: Job<ServerJob>): Promise<JobOutcome> {
    const ctx = { opId: String(job.id), requestId };
    let server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    if (!server || server.deletedAt || server.taskState === TaskState.Deleting) return 'skipped';
    if (server.vmState !== VmState.Building) return 'skipped';

    if (server.taskState === TaskState.Scheduling) {
      try {
        const hostId = await this.placement.claimForServer(serverId, server.flavor);
        if (!hostId) return 'skipped';
      } catch (error) {
        if (error instanceof NoValidHostError) {
          await this.faults.fail(serverId, error.message, { releaseClaims: false });
          return 'failed';
        }
        throw error;
      }
      server = (await this.db.getRepository(ServerEntity).findOneBy({ id: serverId }))!;
    }
    const hostId = server.hostId!;

    let status: InstanceStatus;
    let asked = false;
    try {
      const spec = await this.specs.build(server);
      asked = true;
      status = await withActionEvent(this.db, { serverId, requestId, event: 'compute__do_build_and_run_instance', host: hostId }, () =>
        this.retry.call(hostId, `spawn of ${serverId}`, () => this.agents.spawn(hostId, spec, ctx)),
      );
    } catch (error) {
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
      return 'skipped';
    }
    this.logger.log(`server ${serverId} ACTIVE on ${hostId} (pid ${status.pid ?? '?'}) requestId=${requestId}`);
    return 'done';
  }
}
