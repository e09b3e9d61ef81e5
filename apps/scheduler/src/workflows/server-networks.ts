/**
 * A server's ports, seen from the workflows (network.binding.*): bind them to the chosen host
 * before spawn (the answer means the host's taps and rules are in place), unbind them when the
 * server goes or its build leaves the host. Only servers created with `networks` have any: the
 * others never call the network service.
 */
import { Logger } from '@nestjs/common';
import { BoundPort, NetworkBindingOps, NicSpec, RequestedNetwork, portTapName, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { isUnanswered } from './agent-retry';

type Ctx = { requestId: string };

/** The NICs QEMU gets for the bound ports, in the server's order. Pure. */
export function nicsOf(ports: ReadonlyArray<BoundPort>): NicSpec[] {
  return ports.map((p) => ({ mac: p.mac, tap: portTapName(p.portId), mtu: p.mtu }));
}

export interface UnbindPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Keep asking a network service that does not answer this long, then throw (the job retries). */
  giveUpAfterMs: number;
}

export const DEFAULT_UNBIND_POLICY: UnbindPolicy = { firstDelayMs: 250, maxDelayMs: 4_000, giveUpAfterMs: 600_000 };

export class ServerNetworks {
  private readonly logger = new Logger(ServerNetworks.name);
  policy: UnbindPolicy = DEFAULT_UNBIND_POLICY;

  constructor(
    private readonly db: DataSource,
    private readonly rpc: RpcClient,
  ) {}

  /** What the create asked for; [] for a server without networks. */
  async requested(serverId: string): Promise<RequestedNetwork[]> {
    const [row]: Array<{ requested: RequestedNetwork[] | null }> = await this.db.query(
      `SELECT requested_networks AS requested FROM compute.servers WHERE id = $1`,
      [serverId],
    );
    return Array.isArray(row?.requested) ? row.requested : [];
  }

  /** Binds the server's ports to `hostId` and keeps their NICs on the server (later specs boot the same NICs). */
  async bind(server: { id: string; projectId: string }, hostId: string, requested: RequestedNetwork[], ctx: Ctx): Promise<NicSpec[]> {
    const op = NetworkBindingOps.bind;
    const reply = await this.rpc.call(subjects.service('network', op.op), op, { serverId: server.id, projectId: server.projectId, hostId, requested }, ctx);
    const nics = nicsOf(reply.ports);
    await this.db.query(`UPDATE compute.servers SET nics = $2 WHERE id = $1`, [server.id, JSON.stringify(nics)]);
    this.logger.log(`server ${server.id}: ${nics.length} port(s) bound on ${hostId} requestId=${ctx.requestId}`);
    return nics;
  }

  /** One unbind (idempotent on the network service); throws what the call throws. */
  async unbind(serverId: string, ctx: Ctx): Promise<void> {
    const op = NetworkBindingOps.unbind;
    const reply = await this.rpc.call(subjects.service('network', op.op), op, { serverId }, ctx);
    this.logger.log(`server ${serverId}: ${reply.ports} port(s) unbound requestId=${ctx.requestId}`);
  }

  /** `unbind`, asked again with backoff while the network service does not answer (a delete is never lost). */
  async unbindUntilDone(serverId: string, ctx: Ctx): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.unbind(serverId, ctx);
      } catch (error) {
        if (!isUnanswered(error) || Date.now() - started > this.policy.giveUpAfterMs) throw error;
        const delay = Math.min(this.policy.maxDelayMs, this.policy.firstDelayMs * 2 ** attempt);
        this.logger.warn(`unbind of ${serverId}: ${(error as Error).message}; retrying in ${delay} ms`);
        await new Promise<void>((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
