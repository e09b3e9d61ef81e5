/**
 * The poll loop of a running live migration: the source agent's status every
 * NUBO_LIVE_MIGRATION_POLL_MS, its progress written to the record, the convergence policy applied
 * (its actions persisted, so a resumed loop continues from the same step), an admin's abort or
 * force-complete honoured. Returns on completion; any other end is thrown as PollEnded.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { MigrationStatusReply, TaskState } from '@nubo/contracts';
import { LiveMigrationProgress, LiveMigrationRecord, LiveMigrationState, setLiveMigration } from '@nubo/database';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { ConvergenceSettings, nextConvergenceAction } from './server-live-migrate-policy';
import { LiveCtx, LiveMigrationRpc } from './server-live-migrate-rpc';

/** How a poll loop ended, when it did not end in completion by returning. */
export class PollEnded extends Error {
  constructor(readonly outcome: PollOutcome) {
    super(outcome.kind);
  }
}

export type PollOutcome =
  | { kind: 'completed' }
  | { kind: 'aborted'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'postcopy-failed'; message: string };

type Flags = { abort: boolean; force: boolean; task: string | null };

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

  async poll(m: LiveMigrationRecord, ctx: LiveCtx): Promise<PollOutcome> {
    const ref = { serverId: m.serverId, migrationId: m.id };
    let live: LiveMigrationState = { ...m.live };
    const save = async (changes: LiveMigrationState, status: 'running' | 'post-migrating' = 'running') => {
      live = { ...live, ...changes };
      await setLiveMigration(this.db, m.id, ['running'], status, { live });
    };
    for (;;) {
      const status = await this.rpc.status(m.sourceHost, ref, ctx);
      const flags = await this.record(m.id, status);
      if (status.phase === 'completed') {
        await save({ step: 'switched-over', downtimeMs: status.downtimeMs }, 'post-migrating');
        return { kind: 'completed' };
      }
      if (status.phase === 'failed' || status.phase === 'cancelled' || status.phase === 'none') {
        const why = status.error ?? (status.phase === 'none' ? 'the source no longer knows the migration' : `migration ${status.phase}`);
        throw new PollEnded(live.postcopy ? { kind: 'postcopy-failed', message: `post-copy failed: ${why}` } : { kind: 'failed', message: why });
      }
      if (status.phase === 'postcopy-active' && !live.postcopy) await save({ postcopy: true, actions: [...(live.actions ?? []), 'postcopy'] });
      if (!live.postcopy && (flags.abort || flags.task !== TaskState.Migrating)) {
        throw new PollEnded({ kind: 'aborted', message: flags.abort ? 'aborted' : 'the server is no longer migrating (deleted?)' });
      }
      const now = this.now();
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
      await new Promise((resolve) => setTimeout(resolve, this.config.NUBO_LIVE_MIGRATION_POLL_MS));
    }
  }

  /** Writes the progress and reads the admin's requests and the server's task state in one statement. */
  private async record(id: string, status: MigrationStatusReply): Promise<Flags> {
    const progress: LiveMigrationProgress = { phase: status.phase, memory: status.memory, disk: status.disk, at: new Date().toISOString() };
    const [rows]: [Array<Flags>, number] = await this.db.query(
      `UPDATE compute.migrations m SET progress = $2, updated_at = now() WHERE id = $1
       RETURNING abort_requested_at IS NOT NULL AS abort, force_complete_requested_at IS NOT NULL AS force,
                 (SELECT task_state FROM compute.servers s WHERE s.id = m.server_id AND s.deleted_at IS NULL) AS task`,
      [id, progress],
    );
    return rows[0] ?? { abort: true, force: false, task: null };
  }
}
