/**
 * The failover controller: it runs in every scheduler, and is active in exactly one of them (the
 * holder of the leader lock, leader-election.ts); a standby takes over within about
 * NUBO_FAILOVER_LEADER_RETRY_MS of the leader's death (its connection closing), or
 * NUBO_FAILOVER_LEADER_TIMEOUT_MS when the leader froze or was cut off.
 *
 * While active it runs its tasks every NUBO_FAILOVER_TICK_MS, one tick at a time, tasks in order.
 * A task gets the leader session: what it writes through it lands only while this scheduler still
 * leads, so a recovery resumed by the next leader was not also being written by the old one.
 * Tasks must be resumable from what they wrote (a new leader starts from the database).
 * Recoveries (fencing, evacuation) are the tasks to come; with none, the controller only leads.
 */
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { hostname } from 'node:os';
import { Client } from 'pg';
import { LeaderElectionOptions, LeaderSession, PgLeaderElection } from './leader-election';

export interface FailoverTickContext {
  session: LeaderSession;
  /** Counts ticks of this leadership, from 1. */
  tick: number;
}

export interface FailoverTask {
  readonly name: string;
  run(ctx: FailoverTickContext): Promise<void>;
}

/** Injection token of the task list (the scheduler module provides it). */
export const FAILOVER_TASKS = Symbol('FAILOVER_TASKS');

export interface FailoverControllerOptions {
  election: Omit<LeaderElectionOptions, 'onElected' | 'onDeposed' | 'logger'>;
  tickMs: number;
  tasks: readonly FailoverTask[];
}

export class FailoverController implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FailoverController.name);
  private readonly election: PgLeaderElection;
  private session?: LeaderSession;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private ticks = 0;

  constructor(private readonly options: FailoverControllerOptions) {
    this.election = new PgLeaderElection({
      ...options.election,
      logger: this.logger,
      onElected: (session) => this.activate(session),
      onDeposed: (reason) => this.deactivate(reason),
    });
  }

  /** From the scheduler's settings: a dedicated connection per attempt, the cloud's lock. */
  static fromConfig(
    config: { NUBO_DATABASE_URL: string; NUBO_FAILOVER_TICK_MS: number; NUBO_FAILOVER_LEADER_RETRY_MS: number; NUBO_FAILOVER_LEADER_TIMEOUT_MS: number },
    tasks: readonly FailoverTask[],
  ): FailoverController {
    return new FailoverController({
      tickMs: config.NUBO_FAILOVER_TICK_MS,
      tasks,
      election: {
        lockName: 'failover-controller',
        holder: `${hostname()}:${process.pid}`,
        retryMs: config.NUBO_FAILOVER_LEADER_RETRY_MS,
        timeoutMs: config.NUBO_FAILOVER_LEADER_TIMEOUT_MS,
        connect: async () => {
          const client = new Client({
            connectionString: config.NUBO_DATABASE_URL,
            application_name: 'nubo-scheduler-failover',
            keepAlive: true,
            connectionTimeoutMillis: config.NUBO_FAILOVER_LEADER_TIMEOUT_MS,
          });
          await client.connect();
          return client;
        },
      },
    });
  }

  /** True while this scheduler leads. */
  get active(): boolean {
    return this.session?.active === true;
  }

  get term(): number | undefined {
    return this.active ? this.session!.term : undefined;
  }

  onApplicationBootstrap(): void {
    this.election.start();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    await this.election.stop();
    // A tick on the closed connection fails at once; one stuck elsewhere is not waited for long.
    await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, this.options.election.timeoutMs).unref())]);
  }

  private activate(session: LeaderSession): void {
    this.session = session;
    this.ticks = 0;
    const names = this.options.tasks.map((t) => t.name).join(', ') || 'none yet';
    this.logger.log(`failover controller active (term ${session.term}); tasks: ${names}`);
    this.schedule(0);
  }

  private deactivate(reason: string): void {
    clearTimeout(this.timer);
    this.logger.warn(`failover controller standing by (was term ${this.session?.term}): ${reason}`);
    this.session = undefined;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.running) return; // a tick of the previous leadership is ending; it schedules the next
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (this.active) this.schedule(this.options.tickMs);
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const session = this.session;
    if (!session?.active) return;
    const ctx = { session, tick: ++this.ticks };
    for (const task of this.options.tasks) {
      if (!session.active) return;
      try {
        await task.run(ctx);
      } catch (error) {
        this.logger.warn(`failover task ${task.name} failed (term ${session.term}, tick ${ctx.tick}): ${(error as Error).message}`);
      }
    }
  }
}
