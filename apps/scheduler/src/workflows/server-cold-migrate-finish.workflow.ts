/**
 * confirmResize and revertResize of a cold migration in VERIFY_RESIZE (the `server.resize` job
 * with step confirm or revert, handed over by ServerResizeFinishWorkflow for a move between
 * hosts). The API set task state resize_confirming / resize_reverting and the migration's status.
 *
 * - confirm: the source's copy is destroyed, then the source's claim (the migration's) is freed;
 *   the server is ACTIVE on the destination (STOPPED when powered off, as Nova decides).
 * - revert: the destination's copy is destroyed (its disks and claim go), and only then is the
 *   server put back on the source: claims, host, ports, and its guest started if it ran before,
 *   from the source's disks as they were (Nova's finish_revert_resize).
 *
 * A failure before anything changed (the source's destroy on confirm, the destination's on
 * revert) puts the migration back to `finished`: VERIFY_RESIZE with the fault, and the user may
 * ask again. Past the destination's destroy a revert never goes back (the source holds the only
 * copy): it retries, and out of attempts leaves the server ERROR on its source.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NuboError, PowerState, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { ColdMigrationRecord, MigrationRecord, ServerEntity, getColdMigration, setColdMigration, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { powerOnAfterResize, vmStateAfterConfirm } from './resize-steps';
import { ColdMigrateClaims } from './server-cold-migrate-claims';
import { ColdCtx, ColdMigrationRpc } from './server-cold-migrate-rpc';

const STEPS = {
  confirm: { task: TaskState.ResizeConfirming, status: 'confirming', done: 'confirmed', event: 'compute_confirm_resize' },
  revert: { task: TaskState.ResizeReverting, status: 'reverting', done: 'reverted', event: 'compute_revert_resize' },
} as const;

const fault = (message: string) => ({ code: 500, message, created: new Date().toISOString() });
const messageOf = (error: unknown, step: string) => (error instanceof NuboError ? error.message : `${step} failed: ${(error as Error).message}`);

@Injectable()
export class ServerColdMigrateFinishWorkflow {
  private readonly logger = new Logger(ServerColdMigrateFinishWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ColdMigrateClaims) private readonly claims: ColdMigrateClaims,
    @Inject(ColdMigrationRpc) private readonly rpc: ColdMigrationRpc,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
  ) {}

  async run(step: 'confirm' | 'revert', record: MigrationRecord, server: ServerEntity, job: Job, ctx: ColdCtx): Promise<JobOutcome> {
    const m = await getColdMigration(this.db, record.id);
    const s = STEPS[step];
    if (!m?.destHost || server.taskState !== s.task || m.status !== s.status) return 'skipped';
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return step === 'confirm' ? this.confirm(m, server, ctx, lastAttempt) : this.revert(m, server, ctx, lastAttempt);
  }

  private async confirm(m: ColdMigrationRecord, server: ServerEntity, ctx: ColdCtx, lastAttempt: boolean): Promise<JobOutcome> {
    const dest = m.destHost!;
    if (server.hostId !== dest) return 'skipped';
    let powerState: PowerState;
    try {
      await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: STEPS.confirm.event, host: m.sourceHost }, () =>
        this.rpc.destroy(m.sourceHost, m.serverId, ctx),
      );
      powerState = (await this.rpc.status(dest, m.serverId, ctx)).powerState;
    } catch (error) {
      if (error instanceof TimeoutError && !lastAttempt) throw error;
      return this.backToVerify(m, 'confirm', messageOf(error, 'confirm'));
    }
    const done = await this.db.transaction(async (tx) => {
      await this.claims.release(tx, m);
      const row = await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, power_state = $4, fault = NULL, updated_at = now()
          WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
        [m.serverId, TaskState.ResizeConfirming, vmStateAfterConfirm(powerState), powerState],
      );
      return row[1] === 1 && (await setColdMigration(tx, m.id, ['confirming'], 'confirmed'));
    });
    if (done) this.logger.log(`cold migration ${m.id} of ${m.serverId} confirmed: the copy on ${m.sourceHost} is gone, ${powerState} on ${dest}`);
    return done ? 'done' : 'skipped';
  }

  private async revert(m: ColdMigrationRecord, server: ServerEntity, ctx: ColdCtx, lastAttempt: boolean): Promise<JobOutcome> {
    const dest = m.destHost!;
    if (m.cold.revert !== 'destination-destroyed') {
      if (server.hostId !== dest) return 'skipped';
      try {
        await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: STEPS.revert.event, host: dest }, () =>
          this.rpc.destroy(dest, m.serverId, ctx),
        );
      } catch (error) {
        if (error instanceof TimeoutError && !lastAttempt) throw error;
        return this.backToVerify(m, 'revert', messageOf(error, 'revert'));
      }
      const cold = { ...m.cold, revert: 'destination-destroyed' as const };
      if (!(await setColdMigration(this.db, m.id, ['reverting'], 'reverting', { cold }))) return 'skipped';
      m = { ...m, cold };
    }
    // The source holds the only copy now: the server goes back there, whatever it takes.
    try {
      await this.db.transaction(async (tx) => {
        await this.claims.revert(tx, m);
        await tx.query(`UPDATE compute.servers SET host_id = $2, updated_at = now() WHERE id = $1 AND task_state = $3 AND deleted_at IS NULL`, [
          m.serverId,
          m.sourceHost,
          TaskState.ResizeReverting,
        ]);
      });
      await this.rpc.network('prepare', m.serverId, m.sourceHost, ctx);
      await this.rpc.network('commit', m.serverId, m.sourceHost, ctx);
      const powerOn = powerOnAfterResize(m.oldVmState);
      const back = { ...server, hostId: m.sourceHost } as ServerEntity;
      const status = powerOn ? await this.rpc.start(m.sourceHost, await this.specs.build(back, ctx.requestId), ctx) : await this.rpc.status(m.sourceHost, m.serverId, ctx);
      const done = await this.db.transaction(async (tx) => {
        const row = await tx.query(
          `UPDATE compute.servers SET vm_state = $3, task_state = NULL, power_state = $4, fault = NULL, updated_at = now()
            WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
          [m.serverId, TaskState.ResizeReverting, m.oldVmState, status.powerState],
        );
        return row[1] === 1 && (await setColdMigration(tx, m.id, ['reverting'], 'reverted'));
      });
      if (done) this.logger.log(`cold migration ${m.id} of ${m.serverId} reverted: back on ${m.sourceHost} (${status.powerState}), the copy on ${dest} is gone`);
      return done ? 'done' : 'skipped';
    } catch (error) {
      if (!lastAttempt) throw error;
      const message = messageOf(error, 'revert');
      await this.db.transaction(async (tx) => {
        await setColdMigration(tx, m.id, ['reverting'], 'error', { cold: { ...m.cold, outcome: message } });
        await tx.query(`UPDATE compute.servers SET vm_state = $3, task_state = NULL, fault = $4, updated_at = now() WHERE id = $1 AND task_state = $2`, [
          m.serverId,
          TaskState.ResizeReverting,
          VmState.Error,
          fault(message),
        ]);
      });
      this.logger.error(`revert of cold migration ${m.id} of ${m.serverId} failed on ${m.sourceHost}: ${message}`);
      return 'failed';
    }
  }

  /** Nothing changed: VERIFY_RESIZE again with the fault; the user may ask again. */
  private async backToVerify(m: ColdMigrationRecord, step: 'confirm' | 'revert', message: string): Promise<JobOutcome> {
    const s = STEPS[step];
    await this.db.transaction(async (tx) => {
      await setColdMigration(tx, m.id, [s.status], 'finished');
      await tx.query(`UPDATE compute.servers SET task_state = NULL, fault = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [m.serverId, s.task, fault(message)]);
    });
    this.logger.warn(`${step} of cold migration ${m.id} of ${m.serverId} failed: ${message}`);
    return 'failed';
  }
}
