/**
 * confirmResize and revertResize of a server in VERIFY_RESIZE (the `server.resize` job with step
 * confirm or revert). The API set task state resize_confirming / resize_reverting and the
 * migration's status confirming / reverting.
 *
 * - confirm: the agent drops the disk and spec the resize kept aside; placement frees the old
 *   flavor; the server is ACTIVE (STOPPED when powered off, as Nova decides).
 * - revert: the agent stops the guest, puts the kept disk and spec back and starts it if it ran
 *   before the resize; placement frees the new flavor and gives the old one back; the row gets the
 *   old flavor and the vm_state it had before the resize.
 *
 * A failure clears the task state and puts the migration back to `finished`: the server stays in
 * VERIFY_RESIZE with the fault on its row and in the action's events, and the user may ask again
 * (the agent's operations are idempotent, so a second try converges).
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { NuboError, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { MigrationRecord, ServerEntity, setMigrationStatus, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { ResizeClaims } from '../placement/resize-claims';
import { AgentClient } from './agent-client';
import { powerOnAfterResize, vmStateAfterConfirm } from './resize-steps';
import { ServerColdMigrateFinishWorkflow } from './server-cold-migrate-finish.workflow';

type Ctx = { opId: string; requestId: string };

const STEPS = {
  confirm: { task: TaskState.ResizeConfirming, status: 'confirming', done: 'confirmed', event: 'compute_confirm_resize' },
  revert: { task: TaskState.ResizeReverting, status: 'reverting', done: 'reverted', event: 'compute_revert_resize' },
} as const;

@Injectable()
export class ServerResizeFinishWorkflow {
  private readonly logger = new Logger(ServerResizeFinishWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ResizeClaims) private readonly claims: ResizeClaims,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    /** Confirm and revert of a move between hosts (a cold migration). */
    @Optional() @Inject(ServerColdMigrateFinishWorkflow) private readonly crossHost?: ServerColdMigrateFinishWorkflow,
  ) {}

  async run(step: 'confirm' | 'revert', m: MigrationRecord, server: ServerEntity, job: Job, ctx: Ctx): Promise<JobOutcome> {
    if (m.sourceHost !== m.destHost) return this.crossHost ? this.crossHost.run(step, m, server, job, ctx) : 'skipped';
    const s = STEPS[step];
    if (server.taskState !== s.task || m.status !== s.status || server.hostId !== m.destHost) return 'skipped';
    const hostId = m.destHost;
    const grace = this.config.NUBO_STOP_GRACE_S;
    let powerState;
    try {
      const status = await withActionEvent(this.db, { serverId: server.id, requestId: ctx.requestId, event: s.event, host: hostId }, () =>
        step === 'confirm'
          ? this.agents.confirmResize(hostId, server.id, ctx)
          : this.agents.revertResize(hostId, server.id, { powerOn: powerOnAfterResize(m.oldVmState), graceSeconds: grace }, ctx),
      );
      powerState = status.powerState;
    } catch (error) {
      if (error instanceof TimeoutError && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
      const message = error instanceof NuboError ? error.message : `${step} failed: ${(error as Error).message}`;
      await this.db.transaction(async (tx) => {
        await setMigrationStatus(tx, m.id, [s.status], 'finished');
        await tx.query(`UPDATE compute.servers SET task_state = NULL, fault = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [
          server.id,
          s.task,
          { code: 500, message, created: new Date().toISOString() },
        ]);
      });
      this.logger.warn(`${step} of the resize of ${server.id} failed on ${hostId}: ${message} migrationId=${m.id}`);
      return 'failed';
    }
    const done = await this.db.transaction(async (tx) => {
      if (step === 'confirm') await this.claims.confirm(tx, m);
      else await this.claims.revert(tx, m);
      const [vmState, flavorId, flavor] =
        step === 'confirm' ? [vmStateAfterConfirm(powerState), m.newFlavorId, m.newFlavor] : [m.oldVmState as VmState, m.oldFlavorId, m.oldFlavor];
      const row = await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, power_state = $4, flavor_id = $5, flavor = $6, fault = NULL, updated_at = now()
          WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
        [server.id, s.task, vmState, powerState, flavorId, flavor],
      );
      return row[1] === 1 && (await setMigrationStatus(tx, m.id, [s.status], s.done));
    });
    if (!done) return 'skipped';
    this.logger.log(`${step} of the resize of ${server.id} done on ${hostId}: ${powerState} migrationId=${m.id} requestId=${ctx.requestId}`);
    return 'done';
  }
}
