/**
 * Commands to one host's agent, each with an operation id, a deadline and the host's lease epoch
 * (see RELIABILITY.md; the epoch from HostEpochs, when the scheduler module provides it).
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { AgentOps, DestroyReply, InstanceSpec, InstanceStatus, RpcContract, SnapshotReply, SnapshotUpload, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { HostEpochs, sendWithEpoch } from '../hosts/host-epochs';

type Ctx = { opId: string; requestId: string };

@Injectable()
export class AgentClient {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Optional() @Inject(HostEpochs) private readonly epochs?: HostEpochs,
  ) {}

  spawn(hostId: string, spec: InstanceSpec, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.spawn, { spec }, ctx);
  }

  /** `deleteSharedDisks`: the server is deleted (never for a copy left behind by a move). */
  destroy(hostId: string, serverId: string, ctx: Ctx, options: { deleteSharedDisks?: boolean } = {}): Promise<DestroyReply> {
    return this.send(hostId, AgentOps.destroy, { serverId, ...(options.deleteSharedDisks ? { deleteSharedDisks: true } : {}) }, ctx);
  }

  /** `timeoutMs` shortens the wait (the power sync asks while handling events). */
  status(hostId: string, serverId: string, ctx: Ctx & { timeoutMs?: number }): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.status, { serverId }, ctx);
  }

  stop(hostId: string, serverId: string, graceSeconds: number, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.stop, { serverId, graceSeconds }, ctx);
  }

  start(hostId: string, spec: InstanceSpec, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.start, { serverId: spec.serverId, spec }, ctx);
  }

  resume(hostId: string, spec: InstanceSpec, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.resume, { serverId: spec.serverId, spec }, ctx);
  }

  reboot(hostId: string, serverId: string, type: 'SOFT' | 'HARD', graceSeconds: number, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.reboot, { serverId, type, graceSeconds }, ctx);
  }

  simple(op: 'pause' | 'unpause' | 'suspend', hostId: string, serverId: string, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps[op], { serverId }, ctx);
  }

  snapshot(hostId: string, serverId: string, imageId: string, upload: SnapshotUpload, ctx: Ctx): Promise<SnapshotReply> {
    return this.send(hostId, AgentOps.snapshot, { serverId, imageId, upload }, ctx);
  }

  rebuild(hostId: string, spec: InstanceSpec, o: { powerOn: boolean; graceSeconds: number; preserveEphemeral: boolean }, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.rebuild, { serverId: spec.serverId, spec, ...o }, ctx);
  }

  resize(hostId: string, spec: InstanceSpec, o: { powerOn: boolean; graceSeconds: number }, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.resize, { serverId: spec.serverId, spec, ...o }, ctx);
  }

  confirmResize(hostId: string, serverId: string, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.confirmResize, { serverId }, ctx);
  }

  revertResize(hostId: string, serverId: string, o: { powerOn: boolean; graceSeconds: number }, ctx: Ctx): Promise<InstanceStatus> {
    return this.send(hostId, AgentOps.revertResize, { serverId, ...o }, ctx);
  }

  /** Every command carries the job's id, a deadline and the host's epoch; the agent checks them before acting. */
  private send<Req, Res>(hostId: string, op: RpcContract<Req, Res>, body: Omit<Req, 'opId' | 'deadline'>, ctx: Ctx): Promise<Res> {
    const call = (epoch: { epoch?: number }) => {
      const request = { ...body, opId: ctx.opId, deadline: Date.now() + op.timeoutMs, ...epoch } as Req;
      return this.rpc.call(subjects.agent(hostId, op.op), op, request, ctx);
    };
    return sendWithEpoch(this.epochs, hostId, call);
  }
}
