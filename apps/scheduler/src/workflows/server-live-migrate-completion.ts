/**
 * A live migration past its switch-over (server-live-migrate.workflow.ts): the destination's
 * finish and the ports' move at once, the move committed in one transaction (the server ACTIVE on
 * the destination), then the source QEMU removed and the record completed, as Nova orders it.
 * Nothing here is ever rolled back: the guest runs on the destination; the job retries.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, TaskState } from '@nubo/contracts';
import { LiveMigrationRecord, LiveMigrationState, setLiveMigration, sinceCreated, uncleanedLiveMigrations } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { DataSource } from 'typeorm';
import { migrationEventOf } from './live-migration-events';
import { LiveMigrateClaims } from './server-live-migrate-claims';
import { LiveCtx, LiveMigrationRpc } from './server-live-migrate-rpc';

type Record_ = LiveMigrationRecord;

/** The destination finished (when, if this run did it) and the ports moved. */
export type HandedOver = { finishedAt?: number };

/** How long the destination may take to see the stream's end after the source does. */
const FINISH_WAIT_MS = 30_000;
/** Between two asks of a destination that has not seen the stream's end yet (it is a matter of ms). */
const FINISH_RETRY_MS = 20;

const STEPS = ['switched-over', 'destination-finished', 'committed'] as const;
const reached = (m: Record_, step: (typeof STEPS)[number]) => m.live.step !== undefined && STEPS.indexOf(m.live.step as never) >= STEPS.indexOf(step);

export class LiveMigrationCompletion {
  private readonly logger = new Logger(LiveMigrationCompletion.name);

  constructor(
    private readonly db: DataSource,
    private readonly claims: LiveMigrateClaims,
    private readonly rpc: LiveMigrationRpc,
  ) {}

  /**
   * After the switch-over: the hand-over (`handover` when the caller started it as the switch-over
   * was written, else here), then in ONE transaction the host, the claims and the server idle
   * (ACTIVE on the destination). The record as it is then, or undefined when the server left the
   * migration meanwhile (deleted).
   */
  async commit(m: Record_, ctx: LiveCtx, handover?: Promise<HandedOver>): Promise<Record_ | undefined> {
    const dest = m.destHost!;
    if (reached(m, 'committed')) {
      if (m.live.sourceCleanup !== undefined) return m;
      // Moved by an earlier version of this workflow, which bound the ports and cleared the task state at the end.
      await this.rpc.network('commit', m.serverId, dest, ctx);
      await this.db.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [m.serverId, TaskState.Migrating]);
      return m;
    }
    const { finishedAt } = await (handover ?? this.handOver(m, ctx));
    const timings = { ...m.live.timings, ...(finishedAt === undefined ? {} : { finished: finishedAt }), committed: sinceCreated(m) };
    const live: LiveMigrationState = { ...m.live, step: 'committed', sourceCleanup: 'pending', timings };
    const moved = await this.db.transaction(async (tx) => {
      if (!(await this.claims.commitMove(tx, { ...m, destHost: dest }))) return false;
      if (!(await setLiveMigration(tx, m.id, ['post-migrating'], 'post-migrating', { live }))) throw new Error(`live migration ${m.id} is no longer post-migrating`);
      return true;
    });
    if (!moved) {
      // Deleted meanwhile (its delete frees the migration's claim too): the record is closed, nothing moves.
      await setLiveMigration(this.db, m.id, ['post-migrating'], 'error', { live: { ...m.live, outcome: 'the server left the migration before the move' } });
      this.logger.warn(`live migration ${m.id}: server ${m.serverId} is no longer migrating from ${m.sourceHost}; nothing moved`);
      return undefined;
    }
    this.logger.log(`server ${m.serverId} live-migrated from ${m.sourceHost} to ${dest} migrationId=${m.id} requestId=${ctx.requestId}`);
    return { ...m, live };
  }

  /**
   * Past the switch-over: the destination QEMU becomes the server's and the ports move to it, at
   * once (each idempotent); waits for both (no retry starts while one is in flight).
   */
  async handOver(m: Record_, ctx: LiveCtx): Promise<HandedOver> {
    const dest = m.destHost!;
    let finishedAt: number | undefined;
    const finish = reached(m, 'destination-finished') ? Promise.resolve() : this.finishOnDestination(dest, { serverId: m.serverId, migrationId: m.id }, ctx).then(() => void (finishedAt = sinceCreated(m)));
    await together([finish, this.rpc.network('commit', m.serverId, dest, ctx)]);
    return { finishedAt };
  }

  /**
   * The source QEMU goes (the server is ACTIVE on the destination already), then the migration is
   * completed. Retried with the job; out of attempts the record is `error` with the reason, the
   * cleanup still pending: a later migration of the server back to that host does it first.
   */
  async cleanupSource(m: Record_, ctx: LiveCtx, o: { lastAttempt: boolean }): Promise<JobOutcome> {
    try {
      await this.rpc.cleanupSource(m.sourceHost, { serverId: m.serverId, migrationId: m.id }, ctx);
    } catch (error) {
      if (!o.lastAttempt) throw error;
      const live = { ...m.live, outcome: `source cleanup failed: ${messageOf(error)}` };
      if (await setLiveMigration(this.db, m.id, ['post-migrating'], 'error', { live })) this.rpc.publish(migrationEventOf({ ...m, live }, 'error', m.progress, new Date()), ctx);
      this.logger.error(`live migration ${m.id}: the source of server ${m.serverId} on ${m.sourceHost} is still there: ${messageOf(error)}`);
      return 'failed';
    }
    const live: LiveMigrationState = { ...m.live, sourceCleanup: 'done', timings: { ...m.live.timings, completed: sinceCreated(m) } };
    // From post-migrating, or from the error a run out of attempts left (a later migration finished it).
    if (await setLiveMigration(this.db, m.id, ['post-migrating', 'error'], m.status === 'error' ? 'error' : 'completed', { live })) {
      if (m.status !== 'error') this.rpc.publish(migrationEventOf({ ...m, live }, 'completed', m.progress, new Date()), ctx);
    }
    return 'done';
  }

  /**
   * An earlier migration of this server away from `host` that gave up removing its source QEMU
   * there (the server ran on elsewhere): done now (idempotent per migration on the agent), before
   * the host takes the server back. (One still trying is post-migrating: the API refuses a new
   * migration until it ends.)
   */
  async settleEarlierCleanups(m: Record_, host: string): Promise<void> {
    for (const p of await uncleanedLiveMigrations(this.db, m.serverId)) {
      if (p.id !== m.id && p.sourceHost === host) await this.cleanupSource(p, { opId: `live-migrate-${p.id}`, requestId: p.requestId }, { lastAttempt: false });
    }
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
        await sleep(FINISH_RETRY_MS);
      }
    }
  }

}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs the calls at once and waits for all of them (no retry starts while one is in flight); throws the first failure. */
export async function together(calls: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(calls)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
