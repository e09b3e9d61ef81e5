/**
 * server.delete: destroy on the host (idempotent), then free the allocation and mark the server
 * deleted in one transaction. An agent that does not answer is asked again while its host is up
 * (AgentRetry); a host that is down is not waited for (Nova's local delete): when it comes back,
 * the heartbeat sync destroys the copy it still has. A server created with `networks` then has
 * its ports unbound (ServerNetworks, idempotent): a network service that does not answer is asked
 * again, and makes the job retry, before the server is marked deleted (a delete is never lost).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { PowerState, ServerJob, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
import { AgentRetry, HostDownError } from './agent-retry';
import { ServerNetworks } from './server-networks';

@Injectable()
export class ServerDeleteWorkflow {
  private readonly logger = new Logger(ServerDeleteWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
    @Inject(RpcClient) rpc: RpcClient,
  ) {
    this.networks = new ServerNetworks(db, rpc);
  }

  readonly networks: ServerNetworks;

  async run({ serverId, requestId }: ServerJob, job: Job<ServerJob>): Promise<JobOutcome> {
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    if (!server || server.deletedAt) return 'skipped';
    const hostId = server.hostId;
    const ctx = { opId: String(job.id), requestId };
    if (hostId) {
      try {
        const reply = await this.retry.call(hostId, `destroy of ${serverId}`, () => this.agents.destroy(hostId, serverId, ctx, { deleteSharedDisks: true }));
        this.logger.log(`server ${serverId} destroyed on ${hostId}: ${reply.destroyed ? 'was there' : 'nothing there'}`);
      } catch (error) {
        if (!(error instanceof HostDownError)) throw error;
        this.logger.warn(`server ${serverId}: ${error.message}; deleted without it, its copy there goes when the host returns`);
      }
    }
    // Attached interfaces (os-interface) leave NICs on a server created without networks.
    const [nics]: Array<{ n: number }> = await this.db.query(`SELECT coalesce(jsonb_array_length(nics), 0) AS n FROM compute.servers WHERE id = $1`, [serverId]);
    if ((await this.networks.requested(serverId)).length || nics?.n > 0) await this.networks.unbindUntilDone(serverId, ctx);
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
