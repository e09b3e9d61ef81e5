/**
 * What the agent tells the control plane without being asked: a heartbeat every interval
 * (host.<hostId>.heartbeat) and each power-state change the driver observes
 * (server.<serverId>.state). Core NATS is at-most-once: a lost event is repaired by the next
 * heartbeat, which lists every instance with its power state. With a lease watchdog, each beat
 * renews the host's lease first and then sends the heartbeat, so the first heartbeat of a new
 * agent reaches the control plane after its join (its new epoch is in PostgreSQL by then); an
 * agent that fenced itself sends none until the control plane has answered its join.
 */
import { Logger } from '@nestjs/common';
import { HeartbeatEvent, HostCapacity, HostHeartbeat, ServerStateChanged, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { HostKsm } from '../host/host-ksm';
import { readHostTraits } from '../host/host-traits';
import { HypervisorDriver, PowerStateChange } from '../hypervisor/hypervisor-driver';
import type { LeaseWatchdog } from './lease-watchdog';

export type EventPublisher = Pick<RpcClient, 'emit'>;

export interface HostReporterOptions {
  hostId: string;
  driver: HypervisorDriver;
  publisher: EventPublisher;
  capacity: HostCapacity;
  /** KSM counters, read for each heartbeat into capacity.ksm. */
  ksm?: Pick<HostKsm, 'read'>;
  underlayIp?: string;
  heartbeatMs: number;
  /** Fixed at boot: a new value tells the control plane the agent restarted. */
  agentStartedAt?: Date;
  /** The host's standard traits; default: from the driver's accelerator and /proc/cpuinfo, read once. */
  traits?: readonly string[];
  /** Renewed at each beat, before the heartbeat, which it may hold back (absent: no lease, as simulated hosts). */
  lease?: Pick<LeaseWatchdog, 'renew' | 'stop' | 'mayReport'>;
}

export class HostReporterService {
  private readonly logger = new Logger(HostReporterService.name);
  readonly agentStartedAt: string;
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private sending = false;
  private sequence = 0;
  private traits?: string[];

  constructor(private readonly options: HostReporterOptions) {
    this.agentStartedAt = (options.agentStartedAt ?? new Date()).toISOString();
  }

  /** Forwards driver power-state changes as events. Call before adopt() so none is missed. */
  watchPowerStates(): void {
    this.unsubscribe ??= this.options.driver.onPowerStateChange((change) => this.publishState(change));
  }

  /** Sends a heartbeat now, then one every interval. */
  startHeartbeat(): void {
    if (this.timer) return;
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.options.lease?.stop();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  async heartbeat(): Promise<HeartbeatEvent> {
    const instances = await this.options.driver.list();
    const { capacity, ksm } = this.options;
    return {
      hostId: this.options.hostId,
      agentStartedAt: this.agentStartedAt,
      sentAt: new Date().toISOString(),
      accelerator: this.options.driver.accelerator,
      underlayIp: this.options.underlayIp ?? null,
      capacity: ksm ? { ...capacity, ksm: await ksm.read() } : capacity,
      traits: (this.traits ??= [...(this.options.traits ?? readHostTraits(this.options.driver.accelerator))]),
      instances: instances.map(({ serverId, powerState, lastExit }) => ({ serverId, powerState, ...(lastExit ? { lastExit } : {}) })),
    };
  }

  private async beat(): Promise<void> {
    if (this.sending) return; // a slow list() must not pile heartbeats up
    this.sending = true;
    try {
      const lease = this.options.lease;
      if (lease) {
        await lease.renew();
        if (!lease.mayReport()) return;
      }
      const payload = await this.heartbeat();
      const requestId = `hb-${this.options.hostId}-${++this.sequence}`;
      this.options.publisher.emit(subjects.heartbeat(this.options.hostId), HostHeartbeat, payload, { requestId });
    } catch (error) {
      this.logger.warn(`heartbeat not sent: ${(error as Error).message}`);
    } finally {
      this.sending = false;
    }
  }

  private publishState(change: PowerStateChange): void {
    const requestId = `req-${randomUUID()}`;
    this.logger.debug(`server.state serverId=${change.serverId} ${change.powerState} (${change.reason}) requestId=${requestId}`);
    this.options.publisher.emit(
      subjects.serverState(change.serverId),
      ServerStateChanged,
      {
        serverId: change.serverId,
        hostId: this.options.hostId,
        powerState: change.powerState,
        reason: change.reason,
        at: change.at,
        ...(change.lastExit ? { lastExit: change.lastExit } : {}),
      },
      { requestId },
    );
  }
}
