/**
 * Pushes hosts their whole desired data plane (AgentNetworkOps.sync). One push per host at a time;
 * pushes asked for while one runs collapse into one more after it (it reads the state then, so
 * it carries every change made meanwhile). A push answers once the agent converged, so a caller
 * that awaits it knows the taps and their rules are in place on that host.
 */
import { Logger } from '@nestjs/common';
import { AgentNetworkOps, NetworkSyncReply, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { hostNetworkState } from './host-network-state';

type Db = Parameters<typeof hostNetworkState>[0];
export type AgentCaller = Pick<RpcClient, 'call'>;

interface HostQueue {
  running: Promise<NetworkSyncReply>;
  /** A push asked for while one runs: shared by every caller that asked meanwhile. */
  next?: Promise<NetworkSyncReply>;
}

export class HostSync {
  private readonly logger = new Logger(HostSync.name);
  private readonly queues = new Map<string, HostQueue>();

  constructor(
    private readonly db: Db,
    private readonly agents: AgentCaller,
  ) {}

  /** Pushes `hostId` its state; resolves with the agent's answer to a push that started after this call. */
  push(hostId: string, requestId = `req-${randomUUID()}`): Promise<NetworkSyncReply> {
    const queue = this.queues.get(hostId);
    if (!queue) {
      const running = this.run(hostId, requestId);
      const entry: HostQueue = { running };
      this.queues.set(hostId, entry);
      void running.catch(() => undefined).finally(() => this.advance(hostId, entry));
      return running;
    }
    queue.next ??= queue.running.catch(() => undefined).then(() => this.run(hostId, requestId));
    return queue.next;
  }

  /** Pushes every host in the list, each once; failures are logged (a later push or the agent's restart repairs them). */
  async pushAll(hostIds: Iterable<string>, requestId?: string): Promise<void> {
    await Promise.all(
      [...new Set(hostIds)].map((h) =>
        this.push(h, requestId).catch((error: Error) => this.logger.warn(`network sync of host ${h} failed: ${error.message}`)),
      ),
    );
  }

  private advance(hostId: string, entry: HostQueue): void {
    if (this.queues.get(hostId) !== entry) return;
    if (!entry.next) {
      this.queues.delete(hostId);
      return;
    }
    const next: HostQueue = { running: entry.next };
    this.queues.set(hostId, next);
    void next.running.catch(() => undefined).finally(() => this.advance(hostId, next));
  }

  private async run(hostId: string, requestId: string): Promise<NetworkSyncReply> {
    const state = await hostNetworkState(this.db, hostId);
    const op = AgentNetworkOps.sync;
    const reply = await this.agents.call(
      subjects.agent(hostId, op.op),
      op,
      { opId: `network-sync-${randomUUID()}`, deadline: Date.now() + op.timeoutMs, state },
      { requestId },
    );
    this.logger.log(`host ${hostId}: ${state.networks.length} network(s), ${state.ports.length} port(s), ${reply.linkOps} link op(s) requestId=${requestId}`);
    return reply;
  }
}
