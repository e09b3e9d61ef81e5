/** Commands to one host's agent, each with an operation id and a deadline (see RELIABILITY.md). */
import { Inject, Injectable } from '@nestjs/common';
import { AgentOps, DestroyReply, InstanceSpec, InstanceStatus, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';

@Injectable()
export class AgentClient {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  spawn(hostId: string, spec: InstanceSpec, ctx: { opId: string; requestId: string }): Promise<InstanceStatus> {
    const op = AgentOps.spawn;
    return this.rpc.call(subjects.agent(hostId, op.op), op, { spec, opId: ctx.opId, deadline: Date.now() + op.timeoutMs }, ctx);
  }

  destroy(hostId: string, serverId: string, ctx: { opId: string; requestId: string }): Promise<DestroyReply> {
    const op = AgentOps.destroy;
    return this.rpc.call(subjects.agent(hostId, op.op), op, { serverId, opId: ctx.opId, deadline: Date.now() + op.timeoutMs }, ctx);
  }

  status(hostId: string, serverId: string, ctx: { opId: string; requestId: string }): Promise<InstanceStatus> {
    const op = AgentOps.status;
    return this.rpc.call(subjects.agent(hostId, op.op), op, { serverId, opId: ctx.opId, deadline: Date.now() + op.timeoutMs }, ctx);
  }
}
