/**
 * How a cold migration ends when it does not reach VERIFY_RESIZE (see
 * server-cold-migrate.workflow.ts): refused (no host: nothing was touched), rolled back (a
 * failure before the move: what coldRollback() lists is undone, each call idempotent, and the
 * server is back on its source as it was), abandoned (the server was deleted meanwhile: the
 * destination's copy goes, nothing starts), stuck (a rollback that cannot make sure the
 * destination does not run the guest: ERROR, nothing started) or failed after the move (ERROR on
 * the destination).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { ColdMigrationRecord, MigrationStatus, ServerEntity, getColdMigration, setColdMigration, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { DataSource } from 'typeorm';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { powerOnAfterResize } from './resize-steps';
import { ColdMigrateClaims } from './server-cold-migrate-claims';
import { ColdCtx, ColdMigrationRpc } from './server-cold-migrate-rpc';
import { coldRollback, reached } from './server-cold-migrate-steps';

/** Statuses of a cold migration before VERIFY_RESIZE. */
export const OPEN: MigrationStatus[] = ['pre-migrating', 'migrating', 'post-migrating'];
const BEFORE_MOVE: MigrationStatus[] = ['pre-migrating', 'migrating'];
const MIGRATING_TASKS = [TaskState.ResizePrep, TaskState.ResizeMigrating];

/** The server was deleted (or its task taken) while it migrated. */
export class ServerLeft extends Error {
  constructor() {
    super('the server left the migration');
  }
}

const fault = (message: string) => ({ code: 500, message, created: new Date().toISOString() });

@Injectable()
export class ColdMigrateRollback {
  private readonly logger = new Logger(ColdMigrateRollback.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ColdMigrateClaims) private readonly claims: ColdMigrateClaims,
    @Inject(ColdMigrationRpc) private readonly rpc: ColdMigrationRpc,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
  ) {}

  /** No host can take the server: nothing was claimed or touched (Nova's fault, the server as it was). */
  async refuse(m: ColdMigrationRecord, message: string): Promise<JobOutcome> {
    await this.db.transaction(async (tx) => {
      await setColdMigration(tx, m.id, ['pre-migrating'], 'error', { cold: { ...m.cold, step: 'rolled-back', outcome: message } });
      await tx.query(`UPDATE compute.servers SET task_state = NULL, fault = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [
        m.serverId,
        TaskState.ResizePrep,
        fault(message),
      ]);
    });
    this.logger.warn(`cold migration ${m.id} of server ${m.serverId} refused: ${message}`);
    return 'failed';
  }

  /**
   * Undoes a failed migration before its move. Throws (for the job to retry) when the
   * destination's copy must be gone and could not be made so, or the source did not start again.
   */
  async rollback(m: ColdMigrationRecord, reason: string, ctx: ColdCtx, lastAttempt: boolean): Promise<JobOutcome> {
    if (m.cold.rollback === undefined) {
      const cold = { ...m.cold, rollback: reason };
      if (!(await setColdMigration(this.db, m.id, BEFORE_MOVE, m.status, { cold }))) return 'skipped';
      m = { ...m, cold };
    }
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: m.serverId });
    if (!server || server.deletedAt || !MIGRATING_TASKS.includes(server.taskState as TaskState)) return this.abandon(m, ctx);
    const plan = coldRollback(m.cold.step, powerOnAfterResize(m.oldVmState))!;
    const ref = { serverId: m.serverId, migrationId: m.id };
    const problems: string[] = [];
    const attempt = async (what: string, call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    const dest = m.destHost;
    if (dest && plan.destroyDestination) {
      // The destination may run the guest: both must answer before the source may start.
      await withActionEvent(this.db, { serverId: m.serverId, requestId: ctx.requestId, event: 'compute_revert_resize', host: dest }, async () => {
        await this.rpc.abort(dest, ref, ctx);
        await this.rpc.destroy(dest, m.serverId, ctx);
      });
    } else if (dest && plan.abortDestination) {
      await attempt('destination abort', () => this.rpc.abort(dest, ref, ctx));
    }
    if (dest && plan.networkAbort) await attempt('network abort', () => this.rpc.network('abort', m.serverId, dest, ctx));
    let powerState: PowerState | null = null;
    if (plan.restartSource) {
      const spec = await this.specs.build(server, ctx.requestId);
      try {
        powerState = (await this.rpc.start(m.sourceHost, spec, ctx)).powerState;
      } catch (error) {
        if (!lastAttempt) throw error;
        problems.push(`source start: ${(error as Error).message}`);
      }
    }
    const restartFailed = plan.restartSource && powerState === null;
    await this.db.transaction(async (tx) => {
      await this.claims.release(tx, m);
      await setColdMigration(tx, m.id, BEFORE_MOVE, 'error', { cold: { ...m.cold, step: 'rolled-back', outcome: reason } });
      await tx.query(
        `UPDATE compute.servers SET task_state = NULL, fault = $3, power_state = COALESCE($4, power_state),
                vm_state = CASE WHEN $5 THEN $6 ELSE vm_state END, updated_at = now()
          WHERE id = $1 AND task_state = ANY($2) AND deleted_at IS NULL`,
        [m.serverId, MIGRATING_TASKS, fault(reason), powerState, restartFailed, VmState.Error],
      );
    });
    const extra = problems.length ? ` (cleanup: ${problems.join('; ')})` : '';
    this.logger.warn(`cold migration ${m.id} of server ${m.serverId} rolled back${restartFailed ? ' (ERROR: the source did not start)' : ''}: ${reason}${extra}`);
    return 'failed';
  }

  /** The server was deleted during the migration: the destination's copy goes, the record closes, nothing starts. */
  async abandon(m: ColdMigrationRecord, ctx: ColdCtx): Promise<JobOutcome> {
    const dest = m.destHost;
    const problems: string[] = [];
    const attempt = async (what: string, call: () => Promise<unknown>) => call().catch((error: Error) => problems.push(`${what}: ${error.message}`));
    if (dest && !reached(m.cold.step, 'moved')) {
      await attempt('destination abort', () => this.rpc.abort(dest, { serverId: m.serverId, migrationId: m.id }, ctx));
      if (reached(m.cold.step, 'finishing')) await attempt('destination destroy', () => this.rpc.destroy(dest, m.serverId, ctx));
      await attempt('network abort', () => this.rpc.network('abort', m.serverId, dest, ctx));
    }
    await this.db.transaction(async (tx) => {
      if (!reached(m.cold.step, 'moved')) await this.claims.release(tx, m);
      await setColdMigration(tx, m.id, OPEN, 'error', { cold: { ...m.cold, outcome: 'the server was deleted during the migration' } });
    });
    const extra = problems.length ? ` (cleanup: ${problems.join('; ')}; the hosts' heartbeats reap what is left)` : '';
    this.logger.warn(`cold migration ${m.id}: server ${m.serverId} left the migration${extra}`);
    return 'skipped';
  }

  /** A rollback that could not make sure the destination does not run the guest: ERROR, the source left off. */
  async stuck(m: ColdMigrationRecord, message: string): Promise<JobOutcome> {
    const reason = `${m.cold.rollback ?? 'migration failed'}; then its rollback failed: ${message}`;
    await this.db.transaction(async (tx) => {
      await setColdMigration(tx, m.id, BEFORE_MOVE, 'error', { cold: { ...m.cold, outcome: reason } });
      await tx.query(`UPDATE compute.servers SET vm_state = $3, task_state = NULL, fault = $4, updated_at = now() WHERE id = $1 AND task_state = ANY($2)`, [
        m.serverId,
        MIGRATING_TASKS,
        VmState.Error,
        fault(reason),
      ]);
    });
    this.logger.error(`cold migration ${m.id} of server ${m.serverId}: ${reason}`);
    return 'failed';
  }

  /** Past the destination's finish and out of attempts: the server is ERROR (its claims kept for the admin). */
  async failAfterMove(m: ColdMigrationRecord, message: string): Promise<JobOutcome> {
    const now = (await getColdMigration(this.db, m.id)) ?? m;
    await this.db.transaction(async (tx) => {
      await setColdMigration(tx, m.id, OPEN, 'error', { cold: { ...now.cold, outcome: message } });
      await tx.query(`UPDATE compute.servers SET vm_state = $3, task_state = NULL, fault = $4, updated_at = now() WHERE id = $1 AND task_state = ANY($2)`, [
        m.serverId,
        [...MIGRATING_TASKS, TaskState.ResizeMigrated, TaskState.ResizeFinish],
        VmState.Error,
        fault(message),
      ]);
    });
    this.logger.error(`cold migration ${m.id} of server ${m.serverId} failed after its destination's finish: ${message}`);
    return 'failed';
  }
}
