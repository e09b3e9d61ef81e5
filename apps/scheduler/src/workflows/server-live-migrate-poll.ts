/**
 * The poll loop of a running live migration: the source agent's status every
 * NUBO_LIVE_MIGRATION_POLL_MS, its progress written to the record, the convergence policy applied
 * (its actions persisted, so a resumed loop continues from the same step), an admin's abort or
 * force-complete honoured. Returns on completion; any other end is thrown as PollEnded.
 *
 * Before post-copy two faults end it (the workflow then rolls back): a stall (no byte of RAM or
 * disk moved for NUBO_LIVE_MIGRATION_STALL_MS: the stream's path is cut, TCP alone would wait for
 * minutes) and a destination agent that restarted or whose host went down since it prepared the
 * destination (the new agent never saw that QEMU: nothing there is watched any more).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HostState, MigrationStatusReply, TaskState } from '@nubo/contracts';
import { LiveMigrationProgress, LiveMigrationRecord, LiveMigrationState, setLiveMigration, sinceCreated } from '@nubo/database';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { migrationEventOf } from './live-migration-events';
import { ConvergenceSettings, nextConvergenceAction } from './server-live-migrate-policy';
import { LiveCtx, LiveMigrationRpc } from './server-live-migrate-rpc';
import { PollSample, nextPollDelayMs, sampleOf } from './live-migration-poll-delay';

/** How a poll loop ended, when it did not end in completion by returning. */
export class PollEnded extends Error {
  constructor(readonly outcome: PollOutcome) {
    super(outcome.kind);
  }
}

export type PollOutcome =
  | { kind: 'completed'; live: LiveMigrationState; progress: LiveMigrationProgress }
  | { kind: 'aborted'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'postcopy-failed'; message: string };

/** The admin's requests, the server's task state and the destination host's state, read with each progress write. */
type Flags = { abort: boolean; force: boolean; task: string | null; destState: string | null; destStarted: string | null };

/** Host states whose agent is expected to answer (as AgentRetry's). */
const ANSWERING = new Set<string>([HostState.Up, HostState.Disabled, HostState.Maintenance]);

@Injectable()
export class LiveMigrationPoller {
  private readonly logger = new Logger(LiveMigrationPoller.name);
  /** Tests shorten the clock. */
  now: () => number = Date.now;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(LiveMigrationRpc) private readonly rpc: LiveMigrationRpc,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  private get settings(): ConvergenceSettings {
    return {
      convergeAfterMs: this.config.NUBO_LIVE_MIGRATION_CONVERGE_AFTER_MS,
      downtimeSteps: this.config.NUBO_LIVE_MIGRATION_DOWNTIME_STEPS,
      timeoutMs: this.config.NUBO_LIVE_MIGRATION_TIMEOUT_MS,
    };
  }

  /** `onSwitchedOver` runs once the switch-over is written, before the loop returns (the caller's next calls need not wait for it). */
  async poll(m: LiveMigrationRecord, ctx: LiveCtx, hooks: { onSwitchedOver?: (live: LiveMigrationState) => void } = {}): Promise<PollOutcome> {
    const ref = { serverId: m.serverId, migrationId: m.id };
    let live: LiveMigrationState = { ...m.live };
    const save = async (changes: LiveMigrationState) => {
      live = { ...live, ...changes };
      await setLiveMigration(this.db, m.id, ['running'], 'running', { live });
    };
    let moved = { bytes: -1, at: this.now() };
    let sample: PollSample | undefined;
    // For live.timings: when this loop's first answer came (ms after the request) and how many it took.
    let firstPoll: number | undefined;
    const rpcMs = { max: 0, total: 0 };
    for (let polls = 1; ; polls++) {
      const asked = Date.now();
      const status = await this.rpc.status(m.sourceHost, ref, ctx);
      const took = Date.now() - asked;
      Object.assign(rpcMs, { max: Math.max(rpcMs.max, took), total: rpcMs.total + took });
      firstPoll ??= sinceCreated(m);
      const progress = progressOf(status);
      if (status.phase === 'completed') {
        // The switch-over and the last progress in one statement: the guest now runs on the destination.
        const timings = { ...live.timings, 'first-poll': firstPoll, 'switched-over': sinceCreated(m) };
        live = { ...live, step: 'switched-over', downtimeMs: status.downtimeMs, timings, polls: (live.polls ?? 0) + polls, pollRpcMs: rpcMs };
        await setLiveMigration(this.db, m.id, ['running'], 'post-migrating', { live, progress });
        hooks.onSwitchedOver?.(live);
        this.rpc.publish(migrationEventOf({ ...m, live }, 'post-migrating', progress, new Date()), ctx);
        return { kind: 'completed', live, progress };
      }
      const flags = await this.record(m, progress);
      this.rpc.publish(migrationEventOf({ ...m, live }, 'running', progress, new Date()), ctx);
      if (status.phase === 'failed' || status.phase === 'cancelled' || status.phase === 'none') {
        const why = status.error ?? (status.phase === 'none' ? 'the source no longer knows the migration' : `migration ${status.phase}`);
        throw new PollEnded(live.postcopy ? { kind: 'postcopy-failed', message: `post-copy failed: ${why}` } : { kind: 'failed', message: why });
      }
      if (status.phase === 'postcopy-active' && !live.postcopy) await save({ postcopy: true, actions: [...(live.actions ?? []), 'postcopy'] });
      if (!live.postcopy && (flags.abort || flags.task !== TaskState.Migrating)) {
        throw new PollEnded({ kind: 'aborted', message: flags.abort ? 'aborted' : 'the server is no longer migrating (deleted?)' });
      }
      const now = this.now();
      if (!live.postcopy) {
        const lost = this.destinationLost(m, live, flags);
        if (lost) throw new PollEnded({ kind: 'failed', message: lost });
        const bytes = status.memory.processedBytes + (status.disk?.processedBytes ?? 0);
        if (bytes !== moved.bytes || status.phase !== 'active') moved = { bytes, at: now };
        else if (now - moved.at >= this.config.NUBO_LIVE_MIGRATION_STALL_MS) {
          throw new PollEnded({ kind: 'failed', message: `stalled: nothing transferred for ${now - moved.at} ms` });
        }
      }
      const action = nextConvergenceAction(
        {
          elapsedMs: now - Date.parse(live.startedAt!),
          sinceEscalationMs: now - Date.parse(live.lastEscalationAt ?? live.startedAt!),
          downtimeBaseMs: live.downtimeBaseMs ?? this.config.NUBO_LIVE_MIGRATION_DOWNTIME_MS,
          downtimeStep: live.downtimeStep ?? 0,
          postcopyAllowed: live.postcopyAllowed === true,
          postcopy: live.postcopy === true,
          forceComplete: flags.force,
        },
        this.settings,
      );
      const at = new Date(now).toISOString();
      if (action.kind === 'downtime') {
        await this.rpc.adjust(m.sourceHost, { ...ref, downtimeLimitMs: action.downtimeMs }, ctx);
        await save({ downtimeStep: action.step, lastEscalationAt: at, actions: [...(live.actions ?? []), `downtime-${action.downtimeMs}`] });
        this.logger.log(`live migration ${m.id}: downtime limit ${action.downtimeMs} ms`);
      } else if (action.kind === 'postcopy') {
        await this.rpc.adjust(m.sourceHost, { ...ref, startPostcopy: true }, ctx);
        await save({ postcopy: true, lastEscalationAt: at, actions: [...(live.actions ?? []), 'postcopy'] });
        this.logger.log(`live migration ${m.id}: switched to post-copy`);
      } else if (action.kind === 'abort') {
        await save({ actions: [...(live.actions ?? []), 'abort-timeout'] });
        throw new PollEnded({ kind: 'failed', message: `timeout: no convergence within ${this.settings.timeoutMs} ms` });
      }
      // Sooner as the end nears, and early in a migration (live-migration-poll-delay.ts); at most every POLL_MS.
      const current = sampleOf(status, Date.now());
      const delayMs = nextPollDelayMs(current, sample, this.config.NUBO_LIVE_MIGRATION_POLL_MS, now - Date.parse(live.startedAt!));
      sample = current;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** Why the destination can no longer be trusted (its agent restarted, its host is down), or undefined. */
  private destinationLost(m: LiveMigrationRecord, live: LiveMigrationState, host: Flags): string | undefined {
    if (!m.destHost) return undefined;
    if (!host.destState || !ANSWERING.has(host.destState)) return `the destination ${m.destHost} is ${host.destState ?? 'gone'}`;
    if (live.destinationAgentStartedAt !== undefined && host.destStarted !== live.destinationAgentStartedAt) {
      return `the agent of the destination ${m.destHost} restarted during the migration`;
    }
    return undefined;
  }

  /**
   * Writes the progress and reads, in the same statement, the admin's requests, the server's task
   * state and the destination host's state (one round trip per poll).
   */
  private async record(m: LiveMigrationRecord, progress: LiveMigrationProgress): Promise<Flags> {
    const [rows]: [Array<Flags>, number] = await this.db.query(
      `UPDATE compute.migrations m SET progress = $2, updated_at = now() WHERE id = $1
       RETURNING abort_requested_at IS NOT NULL AS abort, force_complete_requested_at IS NOT NULL AS force,
                 (SELECT task_state FROM compute.servers s WHERE s.id = m.server_id AND s.deleted_at IS NULL) AS task,
                 (SELECT state FROM compute.hosts h WHERE h.id = m.dest_host) AS "destState",
                 (SELECT agent_started_at::text FROM compute.hosts h WHERE h.id = m.dest_host) AS "destStarted"`,
      [m.id, progress],
    );
    return rows[0] ?? { abort: true, force: false, task: null, destState: null, destStarted: null };
  }
}

const progressOf = (status: MigrationStatusReply): LiveMigrationProgress => ({
  phase: status.phase,
  memory: status.memory,
  ...(status.disk ? { disk: status.disk } : {}),
  at: new Date().toISOString(),
});
