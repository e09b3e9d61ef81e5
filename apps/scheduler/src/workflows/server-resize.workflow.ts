/**
 * server.resize (Nova's resize, cold, on the server's own host): claim the new flavor beside the
 * old one, have the agent stop the guest, keep its disk and spec aside, grow the disk and start it
 * with the new shape, then put the new flavor on the row and leave the server in VERIFY_RESIZE
 * (vm_state resized). Steps and their order are in resize-steps.ts; each is persisted first.
 * Confirm and revert (the same job name, `step`) are ServerResizeFinishWorkflow's.
 *
 * Failures leave no half-applied change: no room on the host (Nova's NoValidHost) ends the resize
 * before anything moved; a failed agent resize is reverted on the host (disk and spec back, the
 * guest as it was) and in placement. Either way the server is back where it was, with its old
 * flavor, the fault on the row and in the action's events. Only a revert that fails too leaves
 * ERROR.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NoValidHostError, NuboError, PowerState, ServerResizeJob, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { MigrationRecord, ServerEntity, getMigration, setMigrationStatus, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { ResizeClaims } from '../placement/resize-claims';
import { AgentClient } from './agent-client';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { nextResizeStep, powerOnAfterResize } from './resize-steps';
import { ServerResizeFinishWorkflow } from './server-resize-finish.workflow';

type Ctx = { opId: string; requestId: string };

const fault = (message: string) => ({ code: 500, message, created: new Date().toISOString() });

@Injectable()
export class ServerResizeWorkflow {
  private readonly logger = new Logger(ServerResizeWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ResizeClaims) private readonly claims: ResizeClaims,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(ServerResizeFinishWorkflow) private readonly finishes: ServerResizeFinishWorkflow,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async run(data: ServerResizeJob, job: Job<ServerResizeJob>): Promise<JobOutcome> {
    const migration = await getMigration(this.db, data.migrationId);
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: data.serverId });
    if (!migration || !server || server.deletedAt || migration.serverId !== server.id) return 'skipped';
    const ctx = { opId: String(job.id), requestId: data.requestId };
    if (data.step !== 'resize') return this.finishes.run(data.step, migration, server, job, ctx);

    let step = nextResizeStep(server.taskState, migration.status);
    if (step === 'claim') {
      try {
        const claimed = await withActionEvent(this.db, { serverId: server.id, requestId: ctx.requestId, event: 'conductor_migrate_server', host: migration.destHost }, () =>
          this.claims.claim(migration),
        );
        if (claimed === 'gone') return 'skipped';
      } catch (error) {
        if (!(error instanceof NoValidHostError)) throw error;
        await this.refuse(migration, error.message);
        return 'failed';
      }
      step = 'agent';
    }
    let powerState: PowerState | null = null;
    if (step === 'agent') {
      try {
        powerState = await this.resizeOnHost(migration, server, ctx);
      } catch (error) {
        if (error instanceof TimeoutError && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
        const message = error instanceof NuboError ? error.message : `resize failed: ${(error as Error).message}`;
        await this.undo(migration, message, ctx);
        return 'failed';
      }
      const moved = await this.db.transaction(async (tx) => {
        const task = await tx.query(`UPDATE compute.servers SET task_state = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [
          server.id,
          TaskState.ResizeMigrating,
          TaskState.ResizeMigrated,
        ]);
        return task[1] === 1 && (await setMigrationStatus(tx, migration.id, ['migrating'], 'post-migrating'));
      });
      if (!moved) return 'skipped';
      step = 'finish';
    }
    if (step !== 'finish') return 'skipped';
    return (await this.finish(migration, powerState)) ? 'done' : 'skipped';
  }

  /** The agent's resize: the server's spec built with the new flavor (shape, ephemeral disk, topology). */
  private async resizeOnHost(m: MigrationRecord, server: ServerEntity, ctx: Ctx): Promise<PowerState> {
    const resized = Object.assign(new ServerEntity(), server, { flavorId: m.newFlavorId, flavor: m.newFlavor });
    const spec = await this.specs.build(resized, ctx.requestId);
    const options = { powerOn: powerOnAfterResize(m.oldVmState), graceSeconds: this.config.NUBO_STOP_GRACE_S };
    const status = await withActionEvent(this.db, { serverId: server.id, requestId: ctx.requestId, event: 'compute_resize_instance', host: m.destHost }, () =>
      this.agents.resize(m.destHost, spec, options, ctx),
    );
    return status.powerState;
  }

  /** resize_migrated -> resize_finish -> VERIFY_RESIZE, the new flavor on the row. */
  private async finish(m: MigrationRecord, powerState: PowerState | null): Promise<boolean> {
    await this.db.query(`UPDATE compute.servers SET task_state = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [
      m.serverId,
      TaskState.ResizeMigrated,
      TaskState.ResizeFinish,
    ]);
    const done = await this.db.transaction(async (tx) => {
      const row = await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, flavor_id = $4, flavor = $5, power_state = COALESCE($6, power_state),
                fault = NULL, updated_at = now()
          WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
        [m.serverId, TaskState.ResizeFinish, VmState.Resized, m.newFlavorId, m.newFlavor, powerState],
      );
      return row[1] === 1 && (await setMigrationStatus(tx, m.id, ['post-migrating'], 'finished'));
    });
    if (done) this.logger.log(`server ${m.serverId} resized to flavor ${m.newFlavorId} on ${m.destHost}: VERIFY_RESIZE migrationId=${m.id}`);
    return done;
  }

  /** The host cannot take the new flavor: nothing was claimed or touched; the server is as it was. */
  private async refuse(m: MigrationRecord, message: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await setMigrationStatus(tx, m.id, ['pre-migrating'], 'error');
      await tx.query(`UPDATE compute.servers SET task_state = NULL, fault = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [
        m.serverId,
        TaskState.ResizePrep,
        fault(message),
      ]);
    });
    this.logger.warn(`resize of server ${m.serverId} refused: ${message} migrationId=${m.id}`);
  }

  /**
   * The agent's resize failed: the host puts back what the resize kept aside (idempotent there),
   * placement gives the old flavor back, the server returns to its state with the fault. If the
   * host cannot even revert, the server is ERROR (its old flavor stays on the row).
   */
  private async undo(m: MigrationRecord, message: string, ctx: Ctx): Promise<void> {
    let reverted: PowerState | undefined;
    try {
      const options = { powerOn: powerOnAfterResize(m.oldVmState), graceSeconds: this.config.NUBO_STOP_GRACE_S };
      reverted = (await this.agents.revertResize(m.destHost, m.serverId, options, ctx)).powerState;
    } catch (error) {
      this.logger.warn(`undo of the resize of ${m.serverId} failed on ${m.destHost}: ${(error as Error).message}`);
    }
    await this.db.transaction(async (tx) => {
      await this.claims.revert(tx, m);
      await setMigrationStatus(tx, m.id, ['migrating'], 'error');
      await tx.query(
        `UPDATE compute.servers SET task_state = NULL, fault = $3, power_state = COALESCE($4, power_state),
                vm_state = CASE WHEN $5 THEN vm_state ELSE $6 END, updated_at = now()
          WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
        [m.serverId, TaskState.ResizeMigrating, fault(message), reverted ?? null, reverted !== undefined, VmState.Error],
      );
    });
    this.logger.warn(`resize of server ${m.serverId} failed on ${m.destHost} (${reverted ? 'undone' : 'ERROR'}): ${message} migrationId=${m.id}`);
  }
}
