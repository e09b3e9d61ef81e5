/**
 * The calls a cold migration makes: the agents' cold-migration operations and power operations,
 * each with the migration's operation id and a fresh deadline, sent again while the agent does not
 * answer (AgentRetry: the agent's operations are idempotent), and the network service's port moves.
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  AgentColdMigrationOps,
  ColdDisksReply,
  ColdFinishRequest,
  ColdPrepareReply,
  ColdPrepareRequest,
  ColdTransferReply,
  ColdTransferRequest,
  InstanceSpec,
  InstanceStatus,
  NetworkMigrationOps,
  RpcContract,
  subjects,
} from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { HostEpochs, sendWithEpoch } from '../hosts/host-epochs';
import { AgentClient } from './agent-client';
import { AgentRetry } from './agent-retry';

export type ColdCtx = { opId: string; requestId: string };
type Ref = { serverId: string; migrationId: string };
type Body<Req> = Omit<Req, 'opId' | 'deadline'>;

@Injectable()
export class ColdMigrationRpc {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Optional() @Inject(HostEpochs) private readonly epochs?: HostEpochs,
  ) {}

  disks(hostId: string, ref: Ref, ctx: ColdCtx): Promise<ColdDisksReply> {
    return this.agent(hostId, AgentColdMigrationOps.disks, ref, ctx);
  }

  prepare(hostId: string, body: Body<ColdPrepareRequest>, ctx: ColdCtx): Promise<ColdPrepareReply> {
    return this.agent(hostId, AgentColdMigrationOps.prepare, body, ctx);
  }

  transfer(hostId: string, body: Body<ColdTransferRequest>, ctx: ColdCtx): Promise<ColdTransferReply> {
    return this.agent(hostId, AgentColdMigrationOps.transfer, body, ctx);
  }

  finish(hostId: string, body: Body<ColdFinishRequest>, ctx: ColdCtx): Promise<InstanceStatus> {
    return this.agent(hostId, AgentColdMigrationOps.finish, body, ctx);
  }

  abort(hostId: string, ref: Ref, ctx: ColdCtx): Promise<{ aborted: boolean }> {
    return this.agent(hostId, AgentColdMigrationOps.abort, ref, ctx);
  }

  stop(hostId: string, serverId: string, graceSeconds: number, ctx: ColdCtx): Promise<InstanceStatus> {
    return this.retry.call(hostId, `stop of ${serverId}`, () => this.agents.stop(hostId, serverId, graceSeconds, ctx));
  }

  start(hostId: string, spec: InstanceSpec, ctx: ColdCtx): Promise<InstanceStatus> {
    return this.retry.call(hostId, `start of ${spec.serverId}`, () => this.agents.start(hostId, spec, ctx));
  }

  status(hostId: string, serverId: string, ctx: ColdCtx): Promise<InstanceStatus> {
    return this.retry.call(hostId, `status of ${serverId}`, () => this.agents.status(hostId, serverId, ctx));
  }

  /** Removes the host's copy of the server (never its shared disks: the server lives on elsewhere). */
  destroy(hostId: string, serverId: string, ctx: ColdCtx): Promise<{ destroyed: boolean }> {
    return this.retry.call(hostId, `destroy of ${serverId}`, () => this.agents.destroy(hostId, serverId, ctx));
  }

  network(step: 'prepare' | 'commit' | 'abort', serverId: string, destinationHostId: string, ctx: ColdCtx): Promise<{ ports: number }> {
    const op = NetworkMigrationOps[step];
    return this.rpc.call(subjects.service('network', op.op), op, { serverId, destinationHostId }, { requestId: ctx.requestId });
  }

  private agent<Req, Res>(hostId: string, op: RpcContract<Req, Res>, body: Body<Req>, ctx: ColdCtx): Promise<Res> {
    return this.retry.call(hostId, op.op, () =>
      sendWithEpoch(this.epochs, hostId, (epoch) => {
        const request = { ...body, opId: ctx.opId, deadline: Date.now() + op.timeoutMs, ...epoch } as Req;
        return this.rpc.call(subjects.agent(hostId, op.op), op, request, { requestId: ctx.requestId });
      }),
    );
  }
}
