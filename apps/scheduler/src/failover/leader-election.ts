/**
 * One leader among the schedulers: whoever holds a session-level PostgreSQL advisory lock on a
 * connection of its own (never a pooled one: the lock belongs to the session). A standby tries
 * the lock every `retryMs` on its own connection.
 *
 * How a leader stops being one, and how fast the standby takes over:
 *   process killed, connection closed  PostgreSQL drops the session (and the lock) at once: the
 *                                      standby has it within `retryMs`
 *   process frozen, network cut        the leader's session runs with idle_session_timeout =
 *                                      `timeoutMs`, so PostgreSQL ends it `timeoutMs` after its
 *                                      last statement; the leader pings every timeoutMs/3 and
 *                                      steps down by itself once no ping answered for 2/3 of it
 *   connection error                   the leader steps down at once
 * A deposed leader's work cannot land: `LeaderSession.query` runs on the lock's connection,
 * which is gone (and refuses once this process knows it lost the lead), so whatever a leader
 * writes through it was written while it held the lock.
 *
 * Each new leader bumps compute.failover_leadership.term through that connection: the term
 * names the leadership in logs and in what its recoveries record.
 */
import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { performance } from 'node:perf_hooks';

export interface LeaderSession {
  readonly term: number;
  /** False once this process knows it lost the lead. */
  readonly active: boolean;
  /** A statement on the connection that holds the lock (fails once the lead is lost). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface LeaderElectionOptions {
  /** Opens a new dedicated connection. */
  connect: () => Promise<Client>;
  /** Name of the advisory lock (one per cloud database). */
  lockName: string;
  /** Who this is, for logs and compute.failover_leadership.holder. */
  holder: string;
  retryMs: number;
  timeoutMs: number;
  onElected: (session: LeaderSession) => void | Promise<void>;
  onDeposed: (reason: string) => void;
  logger?: Pick<Logger, 'log' | 'warn' | 'debug'>;
}

class Session implements LeaderSession {
  active = true;
  constructor(
    readonly term: number,
    private readonly client: Client,
  ) {}

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (!this.active) throw new Error(`not the leader any more (term ${this.term})`);
    return (await this.client.query(sql, params)).rows as T[];
  }
}

export class PgLeaderElection {
  private readonly logger: Pick<Logger, 'log' | 'warn' | 'debug'>;
  private client?: Client;
  private session?: Session;
  private timer?: NodeJS.Timeout;
  private lastPingOk = 0;
  private stopped = false;

  constructor(private readonly options: LeaderElectionOptions) {
    this.logger = options.logger ?? new Logger(PgLeaderElection.name);
  }

  get leading(): boolean {
    return this.session?.active === true;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Lets go of the lock (closing the connection) without waiting for the standby. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.drop('stopped');
    await client?.end().catch(() => undefined);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => void this.step(), ms);
  }

  private async step(): Promise<void> {
    try {
      if (this.session) await this.ping();
      else await this.tryLead();
    } catch (error) {
      this.drop(`connection failed: ${(error as Error).message}`);
    }
    this.schedule(this.session ? Math.max(1, Math.floor(this.options.timeoutMs / 3)) : this.options.retryMs);
  }

  private async tryLead(): Promise<void> {
    const client = (this.client ??= await this.open());
    const [{ locked }] = (await client.query(`SELECT pg_try_advisory_lock(hashtext('nubo-failover'), hashtext($1)) AS locked`, [this.options.lockName]))
      .rows as Array<{ locked: boolean }>;
    if (!locked || this.stopped) return;
    const [{ term }] = (
      await client.query(
        `UPDATE compute.failover_leadership SET term = term + 1, holder = $1, acquired_at = now() WHERE id = 1 RETURNING term::text AS term`,
        [this.options.holder],
      )
    ).rows as Array<{ term: string }>;
    if (client !== this.client) return; // lost meanwhile: the lock went with the connection
    this.session = new Session(Number(term), client);
    this.lastPingOk = performance.now();
    this.logger.log(`leader: ${this.options.holder} took the lock "${this.options.lockName}" (term ${term})`);
    await this.options.onElected(this.session);
  }

  /** The leader's keepalive: the session stays busy, and an unanswered ping deposes it. */
  private async ping(): Promise<void> {
    const client = this.client!;
    const limit = (this.options.timeoutMs * 2) / 3;
    const answered = await Promise.race([
      client.query('SELECT 1').then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), Math.max(0, limit - (performance.now() - this.lastPingOk))).unref()),
    ]);
    if (answered) this.lastPingOk = performance.now();
    if (performance.now() - this.lastPingOk >= limit) throw new Error(`no answer from PostgreSQL for ${Math.round(limit)} ms`);
  }

  private async open(): Promise<Client> {
    const client = await this.options.connect();
    client.on('error', (error) => this.lost(client, `connection error: ${error.message}`));
    client.on('end', () => this.lost(client, 'connection closed'));
    // A frozen or cut-off leader's session ends on the server side, and its lock with it.
    await client.query(`SELECT set_config('idle_session_timeout', $1, false), set_config('idle_in_transaction_session_timeout', $1, false)`, [
      String(this.options.timeoutMs),
    ]);
    return client;
  }

  private lost(client: Client, reason: string): void {
    if (client === this.client) this.drop(reason);
  }

  /** Forgets the connection; a leader is deposed at once (its session refuses every query). */
  private drop(reason: string): void {
    const client = this.client;
    this.client = undefined;
    if (client) void client.end().catch(() => undefined);
    const session = this.session;
    this.session = undefined;
    if (session?.active) {
      session.active = false;
      this.logger.warn(`leader: ${this.options.holder} lost the lead of term ${session.term}: ${reason}`);
      this.options.onDeposed(reason);
    } else if (!this.stopped) {
      this.logger.debug(`leader: standby connection dropped: ${reason}`);
    }
  }
}
