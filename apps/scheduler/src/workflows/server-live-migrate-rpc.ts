/**
 * The calls a live migration makes: the agents' migration primitives (live-migration.contract.ts,
 * each with the migration's operation id, a deadline and the host's lease epoch, sent again
 * while the agent does not answer: AgentRetry) and the network service's port moves (network-migration.contract.ts); and
 * the progress events it publishes (live-migration-events.contract.ts).
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  AgentMigrationOps,
  MigrationAdjustRequest,
  MigrationPrepareReply,
  MigrationPrepareRequest,
  MigrationStartRequest,
  MigrationProgressEvent,
  MigrationStatusReply,
  NetworkMigrationOps,
  RpcContract,
  ServerMigrationProgress,
  TimeoutError,
  subjects,
} from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { HostEpochs, sendWithEpoch } from '../hosts/host-epochs';
import { AgentRetry } from './agent-retry';

export type LiveCtx = { opId: string; requestId: string };
type Ref = { serverId: string; migrationId: string };

@Injectable()
export class LiveMigrationRpc {
  private readonly logger = new Logger(LiveMigrationRpc.name);

  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
    @Optional() @Inject(HostEpochs) private readonly epochs?: HostEpochs,
  ) {}

  prepare(hostId: string, body: Omit<MigrationPrepareRequest, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<MigrationPrepareReply> {
    return this.agent(hostId, AgentMigrationOps.prepare, body, ctx);
  }

  start(hostId: string, body: Omit<MigrationStartRequest, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<Record<string, never>> {
    return this.agent(hostId, AgentMigrationOps.start, body, ctx);
  }

  /**
   * Asked straight (a poll runs every few tens of ms: no host lookup first); a call the agent does
   * not answer goes through AgentRetry like every other.
   */
  async status(hostId: string, ref: Ref, ctx: LiveCtx): Promise<MigrationStatusReply> {
    const op = AgentMigrationOps.status;
    try {
      return await this.rpc.call(subjects.agent(hostId, op.op), op, { ...ref, opId: ctx.opId, deadline: Date.now() + op.timeoutMs }, { requestId: ctx.requestId });
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      return this.agent(hostId, op, ref, ctx);
    }
  }

  adjust(hostId: string, body: Omit<MigrationAdjustRequest, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<Record<string, never>> {
    return this.agent(hostId, AgentMigrationOps.adjust, body, ctx);
  }

  cancel(hostId: string, ref: Ref, ctx: LiveCtx): Promise<{ cancelled: boolean }> {
    return this.agent(hostId, AgentMigrationOps.cancel, ref, ctx);
  }

  finish(hostId: string, ref: Ref, ctx: LiveCtx): Promise<Record<string, never>> {
    return this.agent(hostId, AgentMigrationOps.finish, ref, ctx);
  }

  abortDestination(hostId: string, ref: Ref, ctx: LiveCtx): Promise<{ aborted: boolean }> {
    return this.agent(hostId, AgentMigrationOps.abortDestination, ref, ctx);
  }

  cleanupSource(hostId: string, ref: Ref, ctx: LiveCtx): Promise<{ cleaned: boolean }> {
    return this.agent(hostId, AgentMigrationOps.cleanupSource, ref, ctx);
  }

  network(step: 'prepare' | 'commit' | 'abort', serverId: string, destinationHostId: string, ctx: LiveCtx): Promise<{ ports: number }> {
    const op = NetworkMigrationOps[step];
    return this.rpc.call(subjects.service('network', op.op), op, { serverId, destinationHostId }, { requestId: ctx.requestId });
  }

  /** Fire-and-forget: a progress event never holds up nor fails the migration. */
  publish(event: MigrationProgressEvent, ctx: LiveCtx): void {
    try {
      this.rpc.emit(subjects.serverMigration(event.serverId), ServerMigrationProgress, event, { requestId: ctx.requestId });
    } catch (error) {
      this.logger.warn(`migration ${event.migrationId}: progress event not sent: ${(error as Error).message}`);
    }
  }

  private agent<Req, Res>(hostId: string, op: RpcContract<Req, Res>, body: Omit<Req, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<Res> {
    return this.retry.call(hostId, op.op, () =>
      sendWithEpoch(this.epochs, hostId, (epoch) => {
        const request = { ...body, opId: ctx.opId, deadline: Date.now() + op.timeoutMs, ...epoch } as Req;
        return this.rpc.call(subjects.agent(hostId, op.op), op, request, { requestId: ctx.requestId });
      }),
    );
  }
}
