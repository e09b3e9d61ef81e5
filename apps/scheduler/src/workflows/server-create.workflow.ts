/**
 * server.create: place, then spawn on the chosen host's agent, then mark ACTIVE. Each step is
 * persisted before the next, so a re-run (stalled job, retry) resumes where the last run stopped:
 * a placed server is not placed again, and spawn is idempotent on the agent.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  InstanceStatus,
  NoValidHostError,
  NuboError,
  PowerState,
  ServerJob,
  TaskState,
  TimeoutError,
  VmState,
} from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
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
    try {
      const spec = await this.specs.build(server);
      status = await withActionEvent(this.db, { serverId, requestId, event: 'compute__do_build_and_run_instance', host: hostId }, () =>
        this.agents.spawn(hostId, spec, ctx),
      );
    } catch (error) {
      if (error instanceof TimeoutError && this.attemptsLeft(job)) {
        // The agent may be restarting: the retry asks again, and spawn is idempotent there.
        throw error;
      }
      await this.agents.destroy(hostId, serverId, ctx).catch(() => undefined);
      const message = error instanceof NuboError ? error.message : `spawn failed: ${(error as Error).message}`;
      await this.faults.fail(serverId, message, { releaseClaims: true });
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
      await this.agents.destroy(hostId, serverId, ctx);
      return 'skipped';
    }
    this.logger.log(`server ${serverId} ACTIVE on ${hostId} (pid ${status.pid ?? '?'}) requestId=${requestId}`);
    return 'done';
  }

  private attemptsLeft(job: Job): boolean {
    return job.attemptsMade + 1 < (job.opts.attempts ?? 1);
  }
}
