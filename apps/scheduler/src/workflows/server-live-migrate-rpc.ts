/**
 * The calls a live migration makes: the agents' migration primitives (live-migration.contract.ts,
 * each with the migration's operation id and a deadline, sent again while the agent does not
 * answer: AgentRetry) and the network service's port moves (network-migration.contract.ts).
 */
import { Inject, Injectable } from '@nestjs/common';
import {
  AgentMigrationOps,
  MigrationAdjustRequest,
  MigrationPrepareReply,
  MigrationPrepareRequest,
  MigrationStartRequest,
  MigrationStatusReply,
  NetworkMigrationOps,
  RpcContract,
  subjects,
} from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { AgentRetry } from './agent-retry';

export type LiveCtx = { opId: string; requestId: string };
type Ref = { serverId: string; migrationId: string };

@Injectable()
export class LiveMigrationRpc {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
  ) {}

  prepare(hostId: string, body: Omit<MigrationPrepareRequest, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<MigrationPrepareReply> {
    return this.agent(hostId, AgentMigrationOps.prepare, body, ctx);
  }

  start(hostId: string, body: Omit<MigrationStartRequest, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<Record<string, never>> {
    return this.agent(hostId, AgentMigrationOps.start, body, ctx);
  }

  status(hostId: string, ref: Ref, ctx: LiveCtx): Promise<MigrationStatusReply> {
    return this.agent(hostId, AgentMigrationOps.status, ref, ctx);
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

  private agent<Req, Res>(hostId: string, op: RpcContract<Req, Res>, body: Omit<Req, 'opId' | 'deadline'>, ctx: LiveCtx): Promise<Res> {
    return this.retry.call(hostId, op.op, () => {
      const request = { ...body, opId: ctx.opId, deadline: Date.now() + op.timeoutMs } as Req;
      return this.rpc.call(subjects.agent(hostId, op.op), op, request, { requestId: ctx.requestId });
    });
  }
}
