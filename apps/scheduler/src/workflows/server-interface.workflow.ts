/**
 * server.interface (Nova's os-interface): attach or detach one port of a server. The API set the
 * task state (InterfaceTaskState) and recorded the instance action; this job owns the server
 * while that task state is there, and clears it at the end, done or not.
 *
 * Attach: bind the port to the server's host (its tap and rules are in place when the network
 * service answers), then the agent hot-plugs it (a stopped server: its spec only), then the NIC
 * joins the server's stored nics. An agent that answers with an error leaves nothing: the port is
 * unbound again (deleted if the API made it for a net_id) and nics are unchanged.
 * Detach: the agent unplugs it (waiting for the guest, bounded), the NIC leaves nics, then the
 * port is unbound (deleted if made for the server) and its tap goes. An unplug that fails keeps
 * the NIC recorded and the port bound, with the error in the action's events.
 * Every step is idempotent, so a retried job (same job id) converges.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  AgentInterfaceOps,
  InterfaceBindingOps,
  InterfaceReply,
  InterfaceTaskState,
  NicSpec,
  RpcContract,
  ServerInterfaceJob,
  portTapName,
  subjects,
} from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { AgentRetry, isUnanswered } from './agent-retry';

type Ctx = { opId: string; requestId: string };

/** How long the guest gets to release a NIC on detach. */
export const DETACH_TIMEOUT_S = 30;

@Injectable()
export class ServerInterfaceWorkflow {
  private readonly logger = new Logger(ServerInterfaceWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
  ) {}

  async run(data: ServerInterfaceJob, job: Job<ServerInterfaceJob>): Promise<JobOutcome> {
    const task = data.op === 'attach' ? InterfaceTaskState.Attaching : InterfaceTaskState.Detaching;
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: data.serverId });
    if (!server || server.deletedAt || (server.taskState as string) !== task) {
      // Not ours (deleted, or a stale replay): a port made for this attach must not leak.
      if (data.op === 'attach' && data.created) await this.network(InterfaceBindingOps.detachPort, { serverId: data.serverId, portId: data.portId, deletePort: true }, data.requestId).catch(() => undefined);
      return 'skipped';
    }
    const ctx = { opId: String(job.id), requestId: data.requestId };
    let outcome: JobOutcome = 'done';
    try {
      if (!server.hostId) throw new Error(`server ${server.id} has no host`);
      const event = data.op === 'attach' ? 'compute_attach_interface' : 'compute_detach_interface';
      await withActionEvent(this.db, { serverId: server.id, requestId: data.requestId, event, host: server.hostId }, () =>
        data.op === 'attach' ? this.attach(server, server.hostId!, data, ctx) : this.detach(server, server.hostId!, data, ctx),
      );
    } catch (error) {
      // The network service did not answer: the job tries again, still owning the task state (every step is idempotent).
      if (isUnanswered(error) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
      this.logger.warn(`${data.op} of port ${data.portId} on ${server.id} failed: ${(error as Error).message} requestId=${data.requestId}`);
      outcome = 'failed';
    }
    await this.db.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [server.id, task]);
    return outcome;
  }

  private async attach(server: ServerEntity, hostId: string, data: ServerInterfaceJob, ctx: Ctx): Promise<void> {
    const { port } = await this.network(
      InterfaceBindingOps.attachPort,
      { serverId: server.id, projectId: server.projectId, hostId, portId: data.portId, autoCreated: data.created === true },
      ctx.requestId,
    ).catch(async (error: unknown) => {
      if (!isUnanswered(error)) await this.undoAttach(server.id, data, ctx);
      throw error;
    });
    const nic: NicSpec = { mac: port.mac, tap: portTapName(port.portId), mtu: port.mtu };
    try {
      const reply = await this.agent(hostId, AgentInterfaceOps.attach, { serverId: server.id, nic }, ctx);
      this.logger.log(`server ${server.id}: port ${port.portId} attached on ${hostId} (${reply.live ? 'hot-plugged' : 'stopped: spec only'}) requestId=${ctx.requestId}`);
    } catch (error) {
      // The agent answered with an error (nothing plugged) or never did: either way the port goes back.
      await this.undoAttach(server.id, data, ctx);
      throw error;
    }
    await this.db.query(
      `UPDATE compute.servers SET nics = coalesce((SELECT jsonb_agg(n) FROM jsonb_array_elements(coalesce(nics, '[]')) n WHERE n->>'mac' <> $2), '[]'::jsonb) || jsonb_build_array($3::jsonb),
              updated_at = now() WHERE id = $1`,
      [server.id, nic.mac, JSON.stringify(nic)],
    );
  }

  private async detach(server: ServerEntity, hostId: string, data: ServerInterfaceJob, ctx: Ctx): Promise<void> {
    const [row]: Array<{ nics: NicSpec[] | null }> = await this.db.query(`SELECT nics FROM compute.servers WHERE id = $1`, [server.id]);
    const nics = Array.isArray(row?.nics) ? row.nics : [];
    const tap = portTapName(data.portId);
    const nic = nics.find((n) => n.tap === tap);
    if (nic) {
      const reply = await this.agent(hostId, AgentInterfaceOps.detach, { serverId: server.id, nic, timeoutSeconds: DETACH_TIMEOUT_S }, ctx);
      await this.db.query(
        `UPDATE compute.servers SET nics = coalesce((SELECT jsonb_agg(n) FROM jsonb_array_elements(coalesce(nics, '[]')) n WHERE n->>'tap' <> $2), '[]'::jsonb), updated_at = now()
          WHERE id = $1`,
        [server.id, tap],
      );
      this.logger.log(`server ${server.id}: port ${data.portId} detached on ${hostId} (${reply.live ? 'unplugged' : 'stopped: spec only'}) requestId=${ctx.requestId}`);
    }
    await this.network(InterfaceBindingOps.detachPort, { serverId: server.id, portId: data.portId }, ctx.requestId);
  }

  private async undoAttach(serverId: string, data: ServerInterfaceJob, ctx: Ctx): Promise<void> {
    await this.network(InterfaceBindingOps.detachPort, { serverId, portId: data.portId, deletePort: data.created === true }, ctx.requestId).catch((error: Error) =>
      this.logger.warn(`server ${serverId}: could not unbind port ${data.portId} after a failed attach: ${error.message}`),
    );
  }

  private network<Req, Res>(op: RpcContract<Req, Res>, body: Req, requestId: string): Promise<Res> {
    return this.rpc.call(subjects.service('network', op.op), op, body, { requestId });
  }

  private agent<Req, Res extends InterfaceReply>(hostId: string, op: RpcContract<Req, Res>, body: Omit<Req, 'opId' | 'deadline'>, ctx: Ctx): Promise<Res> {
    return this.retry.call(hostId, `${op.op} of ${(body as unknown as { serverId: string }).serverId}`, () =>
      this.rpc.call(subjects.agent(hostId, op.op), op, { ...body, opId: ctx.opId, deadline: Date.now() + op.timeoutMs } as Req, ctx),
    );
  }
}
