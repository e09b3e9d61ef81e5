/**
 * The agent's lease and its self-fencing watchdog (Proxmox's HA watchdog, inside the agent).
 *
 *   joining --granted--> held(E) --granted--> held(E) ...
 *      |                   | no successful renewal for the fence timeout, or `stale`
 *      | refused           v
 *      +-------------> fenced: every QEMU of the host killed (SIGKILL), every command refused,
 *                      a join asked at each heartbeat; `granted` -> held(E') after reaping the
 *                      instances of servers the control plane does not put on this host
 *
 * The lease is measured on this process's monotonic clock from the moment the renewal that was
 * granted was SENT (a late reply extends nothing): the agent acts for at most
 * min(NUBO_AGENT_FENCE_TIMEOUT_MS, leaseMs - LEASE_FENCE_MARGIN_MS) after that. The expiry is
 * checked by a timer armed at the lease's end, before each renewal, and before each command, so a
 * process that was frozen past its lease fences itself before it acts on anything buffered.
 */
import { Logger } from '@nestjs/common';
import { AgentCommand, LEASE_FENCE_MARGIN_MS, LeaseRenewReply, LeaseRenewRequest } from '@nubo/contracts';
import { performance } from 'node:perf_hooks';
import { BOOTS_FROM_SPEC, LeaseState, LeaseView, assignmentRefusal, leaseRefusal } from './command-freshness';

export interface MonotonicClock {
  /** Milliseconds; only differences count. */
  now(): number;
}

export interface WatchdogTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface LeaseWatchdogOptions {
  hostId: string;
  agentStartedAt: string;
  /** NUBO_AGENT_FENCE_TIMEOUT_MS: the longest the agent acts without a granted renewal. */
  fenceTimeoutMs: number;
  /** One request to the control plane (scheduler.host.lease.renew). */
  renew(request: LeaseRenewRequest): Promise<LeaseRenewReply>;
  /** Kills every VM of the host at once; resolves how many. Called again at each renewal while fenced. */
  killVms(): Promise<number>;
  /** Destroys the instances of servers not in `keep`; resolves their ids. */
  reap(keep: ReadonlySet<string>): Promise<string[]>;
  clock?: MonotonicClock;
  timers?: WatchdogTimers;
  logger?: Pick<Logger, 'log' | 'warn' | 'error'>;
}

const realTimers: WatchdogTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class LeaseWatchdog {
  private readonly clock: MonotonicClock;
  private readonly timers: WatchdogTimers;
  private readonly logger: Pick<Logger, 'log' | 'warn' | 'error'>;
  private state: LeaseState = 'joining';
  private epoch?: number;
  /** Monotonic time the lease ends, and when its granted renewal was sent. */
  private validUntil = -Infinity;
  private grantedSentAt = -Infinity;
  private fencedEpoch?: number;
  private reason?: string;
  private killedAtFence?: number;
  private killing?: Promise<number>;
  private reaping?: Promise<void>;
  private renewing?: Promise<void>;
  private timer?: unknown;
  private failures = 0;
  /** The control plane answered a join since the fence: it knows (the host is fenced there). */
  private fenceKnown = false;

  constructor(private readonly options: LeaseWatchdogOptions) {
    this.clock = options.clock ?? performance;
    this.timers = options.timers ?? realTimers;
    this.logger = options.logger ?? new Logger(LeaseWatchdog.name);
  }

  /** The lease as it stands now (a lease past its end is fenced first). */
  view(): LeaseView {
    this.check();
    return { hostId: this.options.hostId, state: this.state, ...(this.epoch !== undefined ? { epoch: this.epoch } : {}), ...(this.reason ? { reason: this.reason } : {}) };
  }

  /** The command guard: throws what the agent answers a command it must not act on. */
  assertAllowed(command: Pick<AgentCommand, 'epoch'> | undefined, op: string): void {
    const refusal = leaseRefusal(this.view(), command, op);
    if (refusal) throw refusal;
  }

  /** For start/resume: `known` tells whether the host has files for the server (asked only when it matters). */
  async assertMayBoot(command: Pick<AgentCommand, 'epoch'> | undefined, op: string, serverId: string, known: () => Promise<boolean>): Promise<void> {
    const lease = this.view();
    if (!BOOTS_FROM_SPEC.has(op) || (command?.epoch !== undefined && command.epoch === lease.epoch)) return;
    const refusal = assignmentRefusal(lease, command, op, serverId, await known());
    if (refusal) throw refusal;
  }

  /**
   * Whether heartbeats may go out: while the lease is held, or fenced once the control plane has
   * answered a join (the host is fenced or disabled there). Not before: a heartbeat from an agent
   * that just fenced itself, reaching the scheduler before its join, would bring a down host up.
   */
  mayReport(): boolean {
    this.check();
    return this.state === 'held' || (this.state === 'fenced' && this.fenceKnown);
  }

  /** One renewal (or join) now; calls made while one is in flight share it. */
  renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  stop(): void {
    this.timers.clear(this.timer);
    this.timer = undefined;
  }

  /** Fences the agent when its lease ended. Runs on the timer, before renewals and before commands. */
  check(): void {
    if (this.state !== 'held') return;
    const now = this.clock.now();
    if (now <= this.validUntil) return;
    const silentMs = Math.round(now - this.grantedSentAt);
    this.fence(`no lease renewal for ${silentMs} ms (it allows ${Math.round(this.validUntil - this.grantedSentAt)} ms)`);
  }

  private async renewOnce(): Promise<void> {
    this.check();
    if (this.state === 'fenced') await this.killAll();
    const request = this.request();
    const sentAt = this.clock.now();
    let reply: LeaseRenewReply;
    try {
      reply = await this.options.renew(request);
    } catch (error) {
      if (++this.failures === 1 || this.failures % 10 === 0) {
        this.logger.warn(`lease ${request.epoch === undefined ? 'join' : 'renewal'} failed (${this.failures} in a row): ${(error as Error).message}`);
      }
      this.check();
      return;
    }
    this.failures = 0;
    this.apply(request, reply, sentAt);
  }

  private request(): LeaseRenewRequest {
    const base = { hostId: this.options.hostId, agentStartedAt: this.options.agentStartedAt };
    if (this.state === 'held') return { ...base, epoch: this.epoch };
    // Reported until the control plane answered once: reported again after an admin enabled the
    // host, it would fence the host anew.
    if (this.fencedEpoch === undefined || this.fenceKnown) return base;
    const killed = this.killedAtFence === undefined ? '' : `; killed ${this.killedAtFence} QEMU(s)`;
    return { ...base, fencedEpoch: this.fencedEpoch, fencedReason: `${this.reason}${killed}` };
  }

  private apply(request: LeaseRenewRequest, reply: LeaseRenewReply, sentAt: number): void {
    // The reply may come after the lease ended: fence first, so a late grant extends nothing.
    this.check();
    if (reply.status === 'granted') {
      if (request.epoch !== undefined) {
        if (this.state !== 'held' || this.epoch !== request.epoch || reply.epoch !== request.epoch) return;
      } else {
        const back = this.state === 'fenced';
        this.state = 'held';
        this.epoch = reply.epoch;
        this.fencedEpoch = undefined;
        this.reason = undefined;
        this.logger.log(`joined the control plane with epoch ${reply.epoch}${back ? ' after a fence' : ''}`);
        if (back && reply.assignedServerIds) this.reapUnassigned(reply.assignedServerIds);
      }
      this.grantedSentAt = sentAt;
      this.validUntil = sentAt + Math.min(this.options.fenceTimeoutMs, reply.leaseMs - LEASE_FENCE_MARGIN_MS);
      this.arm();
      return;
    }
    if (reply.status === 'stale') return this.fence(`the control plane refused epoch ${request.epoch ?? '(none)'}: ${reply.reason}`);
    this.fence(`the control plane refused the join: ${reply.reason}`);
    this.fenceKnown = true;
    this.reapUnassigned(reply.assignedServerIds);
  }

  private arm(): void {
    this.timers.clear(this.timer);
    this.timer = this.timers.set(() => this.check(), Math.max(0, this.validUntil - this.clock.now()) + 1);
  }

  private fence(reason: string): void {
    if (this.state === 'fenced') return;
    this.fencedEpoch = this.epoch;
    this.state = 'fenced';
    this.epoch = undefined;
    this.reason = reason;
    this.validUntil = -Infinity;
    this.killedAtFence = undefined;
    this.fenceKnown = false;
    this.stop();
    this.logger.error(`FENCED (${reason}): killing every VM of ${this.options.hostId}; every command is refused until the control plane lets it rejoin`);
    void this.killAll().then((n) => {
      this.killedAtFence ??= n;
      this.logger.warn(`fence of ${this.options.hostId}: killed ${n} QEMU(s)`);
    });
  }

  /** One kill pass at a time; while fenced each renewal runs one (a spawn accepted before the fence may start a QEMU after it). */
  private killAll(): Promise<number> {
    this.killing ??= this.options
      .killVms()
      .catch((error: Error) => {
        this.logger.error(`fence of ${this.options.hostId}: killing VMs failed: ${error.message}`);
        return 0;
      })
      .finally(() => (this.killing = undefined));
    return this.killing;
  }

  /** After the kill pass in flight: a destroy must not wait out a guest's ACPI grace. */
  private reapUnassigned(assigned: string[]): void {
    this.reaping ??= (this.killing ?? Promise.resolve(0))
      .then(() => this.options.reap(new Set(assigned)))
      .then(
        (reaped) => void (reaped.length && this.logger.warn(`removed ${reaped.length} instance(s) of servers no longer on ${this.options.hostId}: ${reaped.join(', ')}`)),
        (error: Error) => this.logger.warn(`removing stale instances failed: ${error.message}`),
      )
      .finally(() => (this.reaping = undefined));
  }
}
