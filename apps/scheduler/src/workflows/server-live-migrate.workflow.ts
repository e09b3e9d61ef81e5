/**
 * server.live-migrate (Nova's os-migrateLive): moves a running server to another host. Every step
 * is written to the migration record (`live.step`) before the next, so a re-run of the job (a
 * retry after an unanswered call, a scheduler that died) resumes after the last step done, and
 * every call it repeats is idempotent per migration id on the other side.
 *
 *   queued     claim the destination (the migration's consumer) beside the source     -> claimed
 *   claimed    network: the server's ports plumbed on the destination too (the instance spec
 *              and the hosts' addresses are read meanwhile)                           -> network-prepared
 *              destination agent: QEMU waiting for the stream (-incoming)             -> destination-prepared
 *              source agent: migrate (disks mirrored first when block)                -> started (running)
 *   started    poll the source (live-migration-poll-delay.ts), progress in the record and on
 *              NATS; the convergence policy (server-live-migrate-policy.ts) steps the downtime
 *              limit up, goes post-copy when allowed, or aborts at the timeout; an admin's abort
 *              is honoured until post-copy                                           -> switched-over (post-migrating)
 *   switched-over  at once: destination agent finish (its QEMU is the server's) and network
 *              commit (ports bound to the destination); then ONE transaction: host, source
 *              claim dropped, destination claim the server's, task state cleared: the server
 *              is ACTIVE on the destination                                          -> committed
 *   committed  source agent: cleanup (as Nova: the migration completes once the source is gone) -> completed
 *
 * Before the switch-over any failure (or an abort) is rolled back: source cancel, destination
 * abort, network abort, destination claim released; the server stays ACTIVE on its source with no
 * task state, the record `error` (or `cancelled`) with the reason in `live.outcome`. An abort is
 * seen at the latest by the next step's write (which refuses to write once it is asked for). After
 * the switch-over nothing is rolled back (the guest runs on the destination): the job retries until
 * it is done; a source cleanup that keeps failing leaves the record `error` and the server ACTIVE
 * where it runs, and is done first when the server comes back to that host. Each step's time (ms
 * after the API's request) is kept in `live.timings`.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NoValidHostError, NuboError, ServerLiveMigrateJob, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import {
  LIVE_OPEN_STATUSES,
  LiveMigrationRecord,
  LiveMigrationState,
  LiveMigrationStatus,
  ServerEntity,
  getLiveMigration,
  setLiveMigration,
  sinceCreated,
  withActionEvent,
} from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { migrationEventOf } from './live-migration-events';
import { LiveMigrateClaims } from './server-live-migrate-claims';
import { HandedOver, LiveMigrationCompletion, together } from './server-live-migrate-completion';
import { LiveMigrationPoller, PollEnded } from './server-live-migrate-poll';
import { downtimeBaseMs, maxBandwidthMibs, postcopyAllowed } from './server-live-migrate-policy';
import { LiveCtx, LiveMigrationRpc } from './server-live-migrate-rpc';

type Record_ = LiveMigrationRecord;

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
  private readonly completion: LiveMigrationCompletion;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(LiveMigrateClaims) private readonly claims: LiveMigrateClaims,
    @Inject(LiveMigrationRpc) private readonly rpc: LiveMigrationRpc,
    @Inject(PlacementInputBuilder) private readonly inputs: PlacementInputBuilder,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(LiveMigrationPoller) private readonly poller: LiveMigrationPoller,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {
    this.completion = new LiveMigrationCompletion(db, claims, rpc);
  }

  async run(data: ServerLiveMigrateJob, job: Job<ServerLiveMigrateJob>): Promise<JobOutcome> {
    const pickedAt = Date.now();
    const server = early(this.db.getRepository(ServerEntity).findOneBy({ id: data.serverId }));
    let m = await getLiveMigration(this.db, data.migrationId);
    if (!m || m.serverId !== data.serverId || !LIVE_OPEN_STATUSES.includes(m.status) || m.live.step === 'rolled-back') return 'skipped';
    const ctx: LiveCtx = { opId: `live-migrate-${m.id}`, requestId: data.requestId };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      let handover: Promise<HandedOver> | undefined;
      if (!reached(m, 'switched-over')) {
        const outcome = await this.migrate(m, await server, ctx, sinceCreated(m, pickedAt));
        if (typeof outcome === 'string') return outcome;
        ({ switchedOver: m, handover } = outcome);
      }
      const committed = await this.completion.commit(m, ctx, handover);
      if (!committed) return 'skipped';
      m = committed;
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
    return this.completion.cleanupSource(m, ctx, { lastAttempt });
  }

  /**
   * Everything up to the switch-over: the record as it is then, with the destination's finish and
   * the ports' move already under way (started as soon as the switch-over was written), or the
   * outcome of a rollback.
   */
  private async migrate(m: Record_, server: ServerEntity | null, ctx: LiveCtx, pickedMs: number): Promise<JobOutcome | { switchedOver: Record_; handover?: Promise<HandedOver> }> {
    if (!server || server.deletedAt || server.taskState !== TaskState.Migrating) throw new Aborted();
    // The spec names no destination: built while the destination is chosen and its ports plumbed.
    const spec = reached(m, 'destination-prepared') ? undefined : early(this.specs.build(server, ctx.requestId));
    const inputs = early(this.inputs.build(server, ctx.requestId));
    if (!reached(m, 'claimed')) {
      // A forced destination needs no placement input (no filter runs): claimed while it is built.
      const input = m.forceDestination && m.requestedHost ? undefined : (await inputs).input;
      const claimed = await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: 'conductor_live_migrate_instance' }, () =>
        this.claims.claim(m, input, { timings: { picked: pickedMs } }),
      );
      if (claimed === 'gone') throw new Aborted();
      m = { ...m, status: 'preparing', destHost: claimed.hostId, live: claimed.live };
      this.publish(m, 'preparing', ctx);
    }
    const { input } = await inputs;
    const dest = m.destHost!;
    const ref = { serverId: m.serverId, migrationId: m.id };
    const hosts = reached(m, 'started') ? undefined : early(this.hosts(m.sourceHost, dest));
    const earlier = reached(m, 'destination-prepared') ? undefined : early(this.completion.settleEarlierCleanups(m, dest));
    // The destination's QEMU opens the ports' taps: they are plumbed first. Without NICs nothing
    // waits on them: they are plumbed while that QEMU starts (and both steps persisted at once).
    let ports: Promise<unknown> = Promise.resolve();
    if (!reached(m, 'network-prepared')) {
      const nics = (await spec)!.nics?.length ?? 0;
      ports = early(this.rpc.network('prepare', m.serverId, dest, ctx));
      if (nics > 0) {
        await ports;
        m = await this.step(m, 'preparing', { step: 'network-prepared' });
      }
    }
    const postcopy = postcopyAllowed(input.extraSpecs as Record<string, string>, server.metadata ?? {});
    const channels = { multifdChannels: this.config.NUBO_LIVE_MIGRATION_MULTIFD_CHANNELS, postcopyAllowed: postcopy };
    if (!reached(m, 'destination-prepared')) {
      const started = early(
        (async () => {
          // Read before the prepare: an agent restart from here on is seen by the poll (at worst one too many).
          const { source, destination, destinationAgentStartedAt } = await hosts!;
          await earlier;
          const event = { serverId: m.serverId, requestId: ctx.requestId, event: 'compute_pre_live_migration', host: dest };
          const body = { ...ref, spec: (await spec)!, sourceAddress: source, listenAddress: destination, block: m.blockMigration, channels };
          const sent = sinceCreated(m);
          const prepare = await withActionEvent(this.db, event, () => this.rpc.prepare(dest, body, ctx));
          return { prepare, destinationAgentStartedAt, sent, answered: sinceCreated(m) };
        })(),
      );
      await together([started, ports]);
      const { sent, answered, ...prepared } = await started;
      const at = { 'prepare-sent': sent, 'prepare-answered': answered };
      m = await this.step(m, 'preparing', { step: 'destination-prepared', ...prepared, timings: { ...m.live.timings, ...at } }, ['network-prepared']);
    }
    if (!reached(m, 'started')) {
      const { destination: address } = await hosts!;
      const base = downtimeBaseMs(input.extraSpecs as Record<string, string>, this.config.NUBO_LIVE_MIGRATION_DOWNTIME_MS);
      const parameters = {
        ...channels,
        maxBandwidthBytesPerSec: maxBandwidthMibs(input.extraSpecs as Record<string, string>, server.metadata ?? {}, this.config.NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS) * 1024 * 1024,
        downtimeLimitMs: base,
        autoConverge: true,
      };
      const sent = sinceCreated(m);
      await this.rpc.start(m.sourceHost, { ...ref, destination: { address, ...m.live.prepare! }, parameters }, ctx);
      const now = new Date().toISOString();
      const timings = { ...m.live.timings, 'start-sent': sent };
      m = await this.step(m, 'running', { step: 'started', startedAt: now, lastEscalationAt: now, postcopyAllowed: postcopy, downtimeBaseMs: base, downtimeStep: 0, timings });
      this.publish(m, 'running', ctx);
    }
    // The switch-over written, the destination's finish and the ports' move start at once (the
    // poll's action event is closed meanwhile).
    let handover: Promise<HandedOver> | undefined;
    const polling = m;
    const polled = await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: 'compute_live_migration', host: m.sourceHost }, () =>
      this.poller.poll(polling, ctx, { onSwitchedOver: (live) => void (handover = early(this.completion.handOver({ ...polling, live }, ctx))) }),
    ).catch((error: unknown) => {
      if (error instanceof PollEnded) return error.outcome;
      throw error;
    });
    if (polled.kind === 'completed') return { switchedOver: { ...m, status: 'post-migrating', live: polled.live, progress: polled.progress }, handover };
    if (polled.kind === 'postcopy-failed') {
      await this.failAfterSwitchover((await getLiveMigration(this.db, m.id))!, polled.message);
      return 'failed';
    }
    const now = (await getLiveMigration(this.db, m.id))!;
    return this.rollback(now, polled.kind === 'aborted' ? 'cancelled' : 'error', polled.message, ctx);
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
    this.publish({ ...m, status, live }, status, ctx);
    const extra = problems.length ? ` (cleanup: ${problems.join('; ')})` : '';
    this.logger.warn(`live migration ${m.id} of server ${m.serverId} ${status}: ${reason}${extra}`);
    return status === 'cancelled' ? 'done' : 'failed';
  }

  /** Past the switch-over and out of attempts (or post-copy failed): the server is ERROR, the record error. */
  private async failAfterSwitchover(m: Record_, message: string): Promise<void> {
    const live = { ...m.live, outcome: message };
    await this.db.transaction(async (tx) => {
      await setLiveMigration(tx, m.id, ['running', 'post-migrating'], 'error', { live });
      await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, fault = $4, updated_at = now() WHERE id = $1 AND task_state = $2`,
        [m.serverId, TaskState.Migrating, VmState.Error, { code: 500, message, created: new Date().toISOString() }],
      );
    });
    this.publish({ ...m, status: 'error', live }, 'error', { opId: `live-migrate-${m.id}`, requestId: m.requestId });
    this.logger.error(`live migration ${m.id} of server ${m.serverId} failed after the switch-over: ${message}`);
  }

  /**
   * Persists the step reached (its time in `timings`, with the steps it implies that had none) and
   * the status, returning the record as it now is; Aborted when an admin asked for an abort (or the
   * record moved on) meanwhile.
   */
  private async step(m: Record_, status: LiveMigrationStatus, live: LiveMigrationState, alsoReached: string[] = []): Promise<Record_> {
    const at = sinceCreated(m);
    const reachedNow = [...alsoReached.filter((k) => m.live.timings?.[k] === undefined), ...(live.step ? [live.step] : [])];
    const timings = { ...(live.timings ?? m.live.timings), ...Object.fromEntries(reachedNow.map((k) => [k, at])) };
    const next = { ...m.live, ...live, timings };
    if (!(await setLiveMigration(this.db, m.id, [m.status, status], status, { live: next, unlessAborted: true }))) throw new Aborted();
    return { ...m, status, live: next };
  }

  private publish(m: Record_, status: LiveMigrationStatus, ctx: LiveCtx): void {
    this.rpc.publish(migrationEventOf(m, status, m.progress, new Date()), ctx);
  }

  /** The underlay addresses of the source and the destination (QEMU's stream goes between them), and the destination agent's start. */
  private async hosts(source: string, dest: string): Promise<{ source: string; destination: string; destinationAgentStartedAt: string | null }> {
    const rows: Array<{ id: string; ip: string | null; started: string | null }> = await this.db.query(
      `SELECT id, underlay_ip AS ip, agent_started_at::text AS started FROM compute.hosts WHERE id = ANY($1)`,
      [[source, dest]],
    );
    const ip = (id: string) => {
      const found = rows.find((r) => r.id === id)?.ip;
      if (!found) throw new NoValidHostError(`host ${id} has no underlay address for the migration stream`);
      return found.replace(/\/\d+$/, '');
    };
    return { source: ip(source), destination: ip(dest), destinationAgentStartedAt: rows.find((r) => r.id === dest)?.started ?? null };
  }
}

const isUnanswered = (error: unknown) => error instanceof TimeoutError || !(error instanceof NuboError || error instanceof Aborted);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A promise started ahead of its use: a rejection surfaces where it is awaited, never as unhandled meanwhile. */
function early<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

