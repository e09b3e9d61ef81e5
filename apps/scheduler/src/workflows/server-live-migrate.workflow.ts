/**
 * server.live-migrate (Nova's os-migrateLive): moves a running server to another host. Every step
 * is written to the migration record (`live.step`) before the next, so a re-run of the job (a
 * retry after an unanswered call, a scheduler that died) resumes after the last step done, and
 * every call it repeats is idempotent per migration id on the other side.
 *
 *   queued     claim the destination (the migration's consumer) beside the source     -> claimed
 *   claimed    network: the server's ports plumbed on the destination too             -> network-prepared
 *              destination agent: QEMU waiting for the stream (-incoming)             -> destination-prepared
 *              source agent: migrate (disks mirrored first when block)                -> started (running)
 *   started    poll the source every NUBO_LIVE_MIGRATION_POLL_MS, progress in the record; the
 *              convergence policy (server-live-migrate-policy.ts) steps the downtime limit up,
 *              goes post-copy when allowed, or aborts at the timeout; an admin's abort is honoured
 *              until post-copy                                                       -> switched-over
 *   switched-over  destination agent: finish (its QEMU is the server's)               -> destination-finished
 *              ONE transaction: host, source claim dropped, destination claim the server's -> committed
 *   committed  network: ports bound to the destination; source agent: cleanup; completed, idle
 *
 * Before the switch-over any failure (or an abort) is rolled back: source cancel, destination
 * abort, network abort, destination claim released; the server stays ACTIVE on its source with no
 * task state, the record `error` (or `cancelled`) with the reason in `live.outcome`. After it
 * nothing is rolled back (the guest runs on the destination): the job retries until it is done.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, NoValidHostError, NuboError, ServerLiveMigrateJob, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import {
  LIVE_OPEN_STATUSES,
  LiveMigrationRecord,
  LiveMigrationState,
  LiveMigrationStatus,
  ServerEntity,
  getLiveMigration,
  setLiveMigration,
  withActionEvent,
} from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { LiveMigrateClaims } from './server-live-migrate-claims';
import { LiveMigrationPoller, PollEnded } from './server-live-migrate-poll';
import { downtimeBaseMs, maxBandwidthMibs, postcopyAllowed } from './server-live-migrate-policy';
import { LiveCtx, LiveMigrationRpc } from './server-live-migrate-rpc';

type Record_ = LiveMigrationRecord;

/** How long the destination may take to see the stream's end after the source does. */
const FINISH_WAIT_MS = 30_000;

/** An admin's abort, seen between steps before the migration started. */
class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

const STEPS = ['claimed', 'network-prepared', 'destination-prepared', 'started', 'switched-over', 'destination-finished', 'committed'] as const;
const reached = (m: Record_, step: (typeof STEPS)[number]) => m.live.step !== undefined && STEPS.indexOf(m.live.step as never) >= STEPS.indexOf(step);

@Injectable()
export class ServerLiveMigrateWorkflow {
  private readonly logger = new Logger(ServerLiveMigrateWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(LiveMigrateClaims) private readonly claims: LiveMigrateClaims,
    @Inject(LiveMigrationRpc) private readonly rpc: LiveMigrationRpc,
    @Inject(PlacementInputBuilder) private readonly inputs: PlacementInputBuilder,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(LiveMigrationPoller) private readonly poller: LiveMigrationPoller,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async run(data: ServerLiveMigrateJob, job: Job<ServerLiveMigrateJob>): Promise<JobOutcome> {
    let m = await getLiveMigration(this.db, data.migrationId);
    if (!m || m.serverId !== data.serverId || !LIVE_OPEN_STATUSES.includes(m.status) || m.live.step === 'rolled-back') return 'skipped';
    const ctx: LiveCtx = { opId: `live-migrate-${m.id}`, requestId: data.requestId };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      if (!reached(m, 'switched-over')) {
        const outcome = await this.migrate(m, ctx);
        if (outcome !== 'switched-over') return outcome;
        m = (await getLiveMigration(this.db, m.id))!;
      }
      return await this.complete(m, ctx);
    } catch (error) {
      m = (await getLiveMigration(this.db, m.id)) ?? m;
      if (reached(m, 'switched-over') || m.live.postcopy) {
        // The guest runs on the destination (or its RAM is split in post-copy): never rolled back; try again until done.
        if (!lastAttempt) throw error;
        await this.failAfterSwitchover(m, (error as Error).message);
        return 'failed';
      }
      if (error instanceof Aborted) return this.rollback(m, 'cancelled', 'aborted', ctx);
      if (isUnanswered(error) && !lastAttempt) throw error;
      return this.rollback(m, 'error', messageOf(error), ctx);
    }
  }

  /** Everything up to the switch-over; 'switched-over', or the outcome of a rollback. */
  private async migrate(m: Record_, ctx: LiveCtx): Promise<JobOutcome | 'switched-over'> {
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: m.serverId });
    if (!server || server.deletedAt || server.taskState !== TaskState.Migrating) throw new Aborted();
    const { input } = await this.inputs.build(server, ctx.requestId);
    if (!reached(m, 'claimed')) {
      await this.checkAbort(m);
      const claimed = await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: 'conductor_live_migrate_instance' }, () =>
        this.claims.claim(m, input),
      );
      if (claimed === 'gone') throw new Aborted();
      m = (await getLiveMigration(this.db, m.id))!;
    }
    const dest = m.destHost!;
    const ref = { serverId: m.serverId, migrationId: m.id };
    if (!reached(m, 'network-prepared')) {
      await this.checkAbort(m);
      await this.rpc.network('prepare', m.serverId, dest, ctx);
      m = await this.step(m, 'preparing', { step: 'network-prepared' });
    }
    const postcopy = postcopyAllowed(input.extraSpecs as Record<string, string>, server.metadata ?? {});
    const channels = { multifdChannels: this.config.NUBO_LIVE_MIGRATION_MULTIFD_CHANNELS, postcopyAllowed: postcopy };
    if (!reached(m, 'destination-prepared')) {
      await this.checkAbort(m);
      const [source, destination] = await this.addresses(m.sourceHost, dest);
      const spec = await this.specs.build(server, ctx.requestId);
      const prepare = await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: 'compute_pre_live_migration', host: dest }, () =>
        this.rpc.prepare(dest, { ...ref, spec, sourceAddress: source, listenAddress: destination, block: m.blockMigration, channels }, ctx),
      );
      const [agent]: Array<{ started: string | null }> = await this.db.query(`SELECT agent_started_at::text AS started FROM compute.hosts WHERE id = $1`, [dest]);
      m = await this.step(m, 'preparing', { step: 'destination-prepared', prepare, destinationAgentStartedAt: agent?.started ?? null });
    }
    if (!reached(m, 'started')) {
      await this.checkAbort(m);
      const [, address] = await this.addresses(m.sourceHost, dest);
      const base = downtimeBaseMs(input.extraSpecs as Record<string, string>, this.config.NUBO_LIVE_MIGRATION_DOWNTIME_MS);
      const parameters = {
        ...channels,
        maxBandwidthBytesPerSec: maxBandwidthMibs(input.extraSpecs as Record<string, string>, server.metadata ?? {}, this.config.NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS) * 1024 * 1024,
        downtimeLimitMs: base,
        autoConverge: true,
      };
      await this.rpc.start(m.sourceHost, { ...ref, destination: { address, ...m.live.prepare! }, parameters }, ctx);
      const now = new Date().toISOString();
      m = await this.step(m, 'running', { step: 'started', startedAt: now, lastEscalationAt: now, postcopyAllowed: postcopy, downtimeBaseMs: base, downtimeStep: 0 });
    }
    const polled = await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: 'compute_live_migration', host: m.sourceHost }, () =>
      this.poller.poll(m, ctx),
    ).catch((error: unknown) => {
      if (error instanceof PollEnded) return error.outcome;
      throw error;
    });
    if (polled.kind === 'completed') return 'switched-over';
    if (polled.kind === 'postcopy-failed') {
      await this.failAfterSwitchover((await getLiveMigration(this.db, m.id))!, polled.message);
      return 'failed';
    }
    const now = (await getLiveMigration(this.db, m.id))!;
    return this.rollback(now, polled.kind === 'aborted' ? 'cancelled' : 'error', polled.message, ctx);
  }

  /** After the switch-over: destination finish, the move in one transaction, ports, source cleanup. */
  private async complete(m: Record_, ctx: LiveCtx): Promise<JobOutcome> {
    const dest = m.destHost!;
    const ref = { serverId: m.serverId, migrationId: m.id };
    if (!reached(m, 'destination-finished')) {
      await this.finishOnDestination(dest, ref, ctx);
      m = await this.step(m, 'post-migrating', { step: 'destination-finished' });
    }
    if (!reached(m, 'committed')) {
      const live = { ...m.live, step: 'committed' as const };
      const moved = await this.db.transaction(async (tx) => {
        if (!(await this.claims.commitMove(tx, { ...m, destHost: dest }))) return false;
        return setLiveMigration(tx, m.id, ['post-migrating'], 'post-migrating', { live });
      });
      if (!moved) {
        // Deleted meanwhile (its delete frees the migration's claim too): the record is closed, nothing moves.
        await setLiveMigration(this.db, m.id, ['post-migrating'], 'error', { live: { ...m.live, outcome: 'the server left the migration before the move' } });
        this.logger.warn(`live migration ${m.id}: server ${m.serverId} is no longer migrating from ${m.sourceHost}; nothing moved`);
        return 'skipped';
      }
      m = { ...m, live };
    }
    await this.rpc.network('commit', m.serverId, dest, ctx);
    await this.rpc.cleanupSource(m.sourceHost, ref, ctx);
    const done = await this.db.transaction(async (tx) => {
      await tx.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [m.serverId, TaskState.Migrating]);
      return setLiveMigration(tx, m.id, ['post-migrating'], 'completed');
    });
    if (done) this.logger.log(`server ${m.serverId} live-migrated from ${m.sourceHost} to ${dest} migrationId=${m.id} requestId=${ctx.requestId}`);
    return done ? 'done' : 'skipped';
  }

  /**
   * The destination sees the stream end a moment after the source reports `completed`: its
   * "not completed here" (a ConflictError) is asked again for a while before the job retries.
   */
  private async finishOnDestination(dest: string, ref: { serverId: string; migrationId: string }, ctx: LiveCtx): Promise<void> {
    const deadline = Date.now() + FINISH_WAIT_MS;
    for (;;) {
      try {
        await this.rpc.finish(dest, ref, ctx);
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.config.NUBO_LIVE_MIGRATION_POLL_MS));
      }
    }
  }

  /**
   * Undoes whatever may have been done (each call idempotent, and a no-op where nothing was
   * prepared): source cancel (never in post-copy), destination abort, network abort, the
   * destination's claim; the server stays on its source, idle.
   */
  private async rollback(m: Record_, status: Extract<LiveMigrationStatus, 'error' | 'cancelled'>, reason: string, ctx: LiveCtx): Promise<JobOutcome> {
    const ref = { serverId: m.serverId, migrationId: m.id };
    const problems: string[] = [];
    const attempt = async (what: string, call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    if (reached(m, 'destination-prepared') && !m.live.postcopy) await attempt('cancel', () => this.rpc.cancel(m.sourceHost, ref, ctx));
    if (m.destHost) {
      const dest = m.destHost;
      await attempt('abort-destination', () => this.rpc.abortDestination(dest, ref, ctx));
      await attempt('network-abort', () => this.rpc.network('abort', m.serverId, dest, ctx));
    }
    const live: LiveMigrationState = { ...m.live, step: 'rolled-back', outcome: reason };
    await this.db.transaction(async (tx) => {
      await this.claims.release(tx, m);
      await setLiveMigration(tx, m.id, ['queued', 'preparing', 'running'], status, { live });
      await tx.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [m.serverId, TaskState.Migrating]);
    });
    const extra = problems.length ? ` (cleanup: ${problems.join('; ')})` : '';
    this.logger.warn(`live migration ${m.id} of server ${m.serverId} ${status}: ${reason}${extra}`);
    return status === 'cancelled' ? 'done' : 'failed';
  }

  /** Past the switch-over and out of attempts (or post-copy failed): the server is ERROR, the record error. */
  private async failAfterSwitchover(m: Record_, message: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await setLiveMigration(tx, m.id, ['running', 'post-migrating'], 'error', { live: { ...m.live, outcome: message } });
      await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, fault = $4, updated_at = now() WHERE id = $1 AND task_state = $2`,
        [m.serverId, TaskState.Migrating, VmState.Error, { code: 500, message, created: new Date().toISOString() }],
      );
    });
    this.logger.error(`live migration ${m.id} of server ${m.serverId} failed after the switch-over: ${message}`);
  }

  /** Persists the step reached (and the status), returning the record as it now is. */
  private async step(m: Record_, status: LiveMigrationStatus, live: LiveMigrationState): Promise<Record_> {
    const next = { ...m.live, ...live };
    if (!(await setLiveMigration(this.db, m.id, [m.status, status], status, { live: next }))) throw new Aborted();
    return { ...m, status, live: next };
  }

  private async checkAbort(m: Record_): Promise<void> {
    const [row]: Array<{ abort: boolean }> = await this.db.query(`SELECT abort_requested_at IS NOT NULL AS abort FROM compute.migrations WHERE id = $1`, [m.id]);
    if (row?.abort) throw new Aborted();
  }

  /** The underlay addresses of the source and the destination (QEMU's stream goes between them). */
  private async addresses(source: string, dest: string): Promise<[string, string]> {
    const rows: Array<{ id: string; ip: string | null }> = await this.db.query(`SELECT id, underlay_ip AS ip FROM compute.hosts WHERE id = ANY($1)`, [[source, dest]]);
    const ip = (id: string) => {
      const found = rows.find((r) => r.id === id)?.ip;
      if (!found) throw new NoValidHostError(`host ${id} has no underlay address for the migration stream`);
      return found.replace(/\/\d+$/, '');
    };
    return [ip(source), ip(dest)];
  }
}

const isUnanswered = (error: unknown) => error instanceof TimeoutError || !(error instanceof NuboError || error instanceof Aborted);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
