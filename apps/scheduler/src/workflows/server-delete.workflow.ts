/**
 * server.delete: destroy on the host (idempotent), then free the allocation and mark the server
 * deleted in one transaction. An agent that does not answer is asked again while its host is up
 * (AgentRetry); a host that is down is not waited for (Nova's local delete): when it comes back,
 * the heartbeat sync destroys the copy it still has.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { PowerState, ServerJob, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
import { AgentRetry, HostDownError } from './agent-retry';

@Injectable()
export class ServerDeleteWorkflow {
  private readonly logger = new Logger(ServerDeleteWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
  ) {}

  async run({ serverId, requestId }: ServerJob, job: Job<ServerJob>): Promise<JobOutcome> {
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    if (!server || server.deletedAt) return 'skipped';
    const hostId = server.hostId;
    if (hostId) {
      try {
        const ctx = { opId: String(job.id), requestId };
        const reply = await this.retry.call(hostId, `destroy of ${serverId}`, () => this.agents.destroy(hostId, serverId, ctx));
        this.logger.log(`server ${serverId} destroyed on ${hostId}: ${reply.destroyed ? 'was there' : 'nothing there'}`);
      } catch (error) {
        if (!(error instanceof HostDownError)) throw error;
        this.logger.warn(`server ${serverId}: ${error.message}; deleted without it, its copy there goes when the host returns`);
      }
    }
    await this.db.transaction(async (tx) => {
      await this.placement.release(tx, serverId);
      await tx.query(
        `UPDATE compute.servers SET vm_state = $2, task_state = NULL, power_state = $3, deleted_at = now(), updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL`,
        [serverId, VmState.Deleted, PowerState.NoState],
      );
    });
    return 'done';
  }
}
