/**
 * server.delete: destroy on the host (idempotent), then free the allocation and mark the server
 * deleted in one transaction. An unreachable agent is retried with backoff.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { PowerState, ServerJob, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';

@Injectable()
export class ServerDeleteWorkflow {
  private readonly logger = new Logger(ServerDeleteWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(AgentClient) private readonly agents: AgentClient,
  ) {}

  async run({ serverId, requestId }: ServerJob, job: Job<ServerJob>): Promise<JobOutcome> {
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    if (!server || server.deletedAt) return 'skipped';
    if (server.hostId) {
      const reply = await this.agents.destroy(server.hostId, serverId, { opId: String(job.id), requestId });
      this.logger.log(`server ${serverId} destroyed on ${server.hostId}: ${reply.destroyed ? 'was running' : 'nothing there'}`);
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
