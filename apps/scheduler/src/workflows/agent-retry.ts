/**
 * Agent commands that converge instead of giving up. An agent killed or restarting answers "no
 * responders" (503) at once, or never answers a command it had received; while its host is not
 * declared down, the command is sent again with backoff: a fresh deadline each time and the same
 * opId, so the agent (whose operations are idempotent) does the work once. A call in flight is
 * abandoned as soon as the host's agent restarts (a new agent_started_at): the old process will
 * never answer it.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HostState, NuboError, TimeoutError } from '@nubo/contracts';
import { DataSource } from 'typeorm';

/** The host is down or fenced: its agent will not answer; someone else decides (failover). */
export class HostDownError extends TimeoutError {
  constructor(hostId: string, state: string) {
    super(`host ${hostId} is ${state}`, { hostId, state });
  }
}

/** The agent that had the command restarted: it will never answer it. */
export class AgentRestartedError extends TimeoutError {
  constructor(hostId: string) {
    super(`the agent of ${hostId} restarted while the command was in flight`, { hostId });
  }
}

export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Stop retrying (and throw the last error) after this long, even with the host up. */
  giveUpAfterMs: number;
  /** How often a call in flight looks for an agent restart. */
  watchMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { firstDelayMs: 250, maxDelayMs: 4_000, giveUpAfterMs: 600_000, watchMs: 500 };

/** Host states whose agent is expected to answer (disabled and maintenance only stop new placements). */
const ANSWERING = new Set<string>([HostState.Up, HostState.Disabled, HostState.Maintenance]);

/** Backoff before attempt `attempt + 1`: exponential, capped; a restarted agent is asked again at once. */
export function retryDelayMs(attempt: number, error: unknown, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  if (error instanceof AgentRestartedError && attempt === 0) return 0;
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** attempt);
}

/** Errors that say "the agent did not answer", as opposed to an answer that is an error. */
export function isUnanswered(error: unknown): boolean {
  return error instanceof TimeoutError;
}

interface HostRow {
  state: string;
  started: string;
}

@Injectable()
export class AgentRetry {
  private readonly logger = new Logger(AgentRetry.name);
  policy: RetryPolicy = DEFAULT_RETRY_POLICY;

  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /**
   * Runs `call` (one agent command, built afresh each time) until the agent answers. Throws the
   * agent's own error at once, `HostDownError` once the host is down or fenced, and the last
   * timeout after `giveUpAfterMs`.
   */
  async call<T>(hostId: string, what: string, call: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const host = await this.host(hostId);
      if (!host || !ANSWERING.has(host.state)) throw new HostDownError(hostId, host?.state ?? 'unknown');
      try {
        return await this.watched(hostId, host, call);
      } catch (error) {
        if (!isUnanswered(error) || error instanceof HostDownError) throw error;
        if (Date.now() - started > this.policy.giveUpAfterMs) throw error;
        const delay = retryDelayMs(attempt, error, this.policy);
        this.logger.warn(`${what} on ${hostId}: ${(error as NuboError).message}; retrying in ${delay} ms (attempt ${attempt + 2})`);
        await sleep(delay);
      }
    }
  }

  /** `call`, abandoned if the host's agent restarts or the host goes down meanwhile. */
  private async watched<T>(hostId: string, before: HostRow, call: () => Promise<T>): Promise<T> {
    const pending = call();
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const lost = new Promise<never>((_, reject) => {
      const check = async () => {
        const now = await this.host(hostId).catch(() => before);
        if (done) return;
        if (!now || !ANSWERING.has(now.state)) return reject(new HostDownError(hostId, now?.state ?? 'unknown'));
        if (now.started !== before.started) return reject(new AgentRestartedError(hostId));
        timer = setTimeout(() => void check(), this.policy.watchMs);
      };
      timer = setTimeout(() => void check(), this.policy.watchMs);
    });
    try {
      return await Promise.race([pending, lost]);
    } finally {
      done = true;
      clearTimeout(timer);
      // An abandoned call still settles (its own timeout); nobody listens any more.
      pending.catch(() => undefined);
      lost.catch(() => undefined);
    }
  }

  private async host(hostId: string): Promise<HostRow | undefined> {
    const rows: HostRow[] = await this.db.query(`SELECT state, agent_started_at::text AS started FROM compute.hosts WHERE id = $1`, [hostId]);
    return rows[0];
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
