/**
 * server.cold-migrate (Nova's `migrate`): moves a server, powered off, to another host chosen by
 * the scheduler, with its flavor unchanged, and leaves it in VERIFY_RESIZE there; confirmResize
 * and revertResize then end the move (server-cold-migrate-finish.workflow.ts). Steps and their
 * order are in server-cold-migrate-steps.ts; each is written to the migration record before the
 * next, so a re-run of the job resumes after the last step done, and every call it repeats is
 * idempotent on the agents and the network service.
 *
 * Never on two hosts: the source guest is powered off before its disks are copied and the
 * destination boots only after the copy, once `finishing` is recorded. Any failure before the
 * move is rolled back (server-cold-migrate-rollback.ts): the destination's copy, exports and
 * claim go, and the source starts again if it ran; from `finishing` on, the destination's copy
 * must be confirmed gone before the source may start. After the move nothing is rolled back (the
 * guest runs on the destination): the job retries until done, out of attempts the server is ERROR.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NoValidHostError, NuboError, ServerColdMigrateJob, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import {
  ColdMigrationRecord,
  ColdMigrationState,
  ColdStep,
  ServerEntity,
  getColdMigration,
  setColdMigration,
  withActionEvent,
} from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { powerOnAfterResize } from './resize-steps';
import { ColdMigrateClaims } from './server-cold-migrate-claims';
import { ColdMigrateRollback, OPEN, ServerLeft } from './server-cold-migrate-rollback';
import { ColdCtx, ColdMigrationRpc } from './server-cold-migrate-rpc';
import { nextColdAction, reached } from './server-cold-migrate-steps';

type Record_ = ColdMigrationRecord;

@Injectable()
export class ServerColdMigrateWorkflow {
  private readonly logger = new Logger(ServerColdMigrateWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ColdMigrateClaims) private readonly claims: ColdMigrateClaims,
    @Inject(ColdMigrationRpc) private readonly rpc: ColdMigrationRpc,
    @Inject(ColdMigrateRollback) private readonly undo: ColdMigrateRollback,
    @Inject(PlacementInputBuilder) private readonly inputs: PlacementInputBuilder,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async run(data: ServerColdMigrateJob, job: Job<ServerColdMigrateJob>): Promise<JobOutcome> {
    let m = await getColdMigration(this.db, data.migrationId);
    if (!m || m.serverId !== data.serverId || !OPEN.includes(m.status)) return 'skipped';
    const ctx: ColdCtx = { opId: `cold-migrate-${m.id}`, requestId: data.requestId };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      if (m.cold.rollback !== undefined) return await this.undo.rollback(m, m.cold.rollback, ctx, lastAttempt);
      return await this.advance(m, ctx);
    } catch (error) {
      m = (await getColdMigration(this.db, m.id)) ?? m;
      if (error instanceof ServerLeft) return this.undo.abandon(m, ctx);
      if (error instanceof NoValidHostError && m.status === 'pre-migrating') return this.undo.refuse(m, error.message);
      if (m.cold.rollback !== undefined) {
        // A rollback that could not finish (the destination unreachable): retried, then ERROR.
        if (!lastAttempt) throw error;
        return this.undo.stuck(m, messageOf(error));
      }
      if (reached(m.cold.step, 'destination-finished')) {
        // The guest runs on the destination: never rolled back; try again until done.
        if (!lastAttempt) throw error;
        return this.undo.failAfterMove(m, messageOf(error));
      }
      if (error instanceof TimeoutError && !lastAttempt) throw error;
      try {
        return await this.undo.rollback(m, messageOf(error), ctx, lastAttempt);
      } catch (undoError) {
        if (!lastAttempt) throw undoError;
        return this.undo.stuck((await getColdMigration(this.db, m.id)) ?? m, messageOf(undoError));
      }
    }
  }

  /** Every step from where the record is to VERIFY_RESIZE. */
  private async advance(m: Record_, ctx: ColdCtx): Promise<JobOutcome> {
    for (;;) {
      const server = await this.db.getRepository(ServerEntity).findOneBy({ id: m.serverId });
      if (!server || server.deletedAt) throw new ServerLeft();
      const action = nextColdAction(server.taskState, m.status, m.cold.step);
      if (action === 'none') {
        if (server.taskState === TaskState.Deleting && OPEN.includes(m.status)) throw new ServerLeft();
        return 'skipped';
      }
      if (action === 'complete') return this.complete(m, ctx);
      m = await this.act(action, m, server, ctx);
    }
  }

  private async act(action: Exclude<ReturnType<typeof nextColdAction>, 'none' | 'complete'>, m: Record_, server: ServerEntity, ctx: ColdCtx): Promise<Record_> {
    const ref = { serverId: m.serverId, migrationId: m.id };
    const event = (name: string, host: string | null) => ({ serverId: m.serverId, requestId: ctx.requestId, event: name, host });
    const dest = m.destHost!;
    switch (action) {
      case 'claim': {
        const { input } = await this.inputs.build(server, ctx.requestId);
        await withActionEvent(this.db, event('conductor_migrate_server', null), () => this.claims.claim(m, input));
        return this.reload(m);
      }
      case 'network':
        await this.rpc.network('prepare', m.serverId, dest, ctx);
        return this.step(m, 'network-prepared');
      case 'describe': {
        const disks = await this.rpc.disks(m.sourceHost, ref, ctx);
        return this.step(m, 'disks-described', { disks: disks.disks, ...(disks.baseSha256 ? { baseSha256: disks.baseSha256 } : {}) });
      }
      case 'prepare': {
        const [sourceAddress, listenAddress] = await this.addresses(m.sourceHost, dest);
        const spec = await this.specs.build(server, ctx.requestId);
        const body = { ...ref, spec, disks: m.cold.disks ?? [], baseSha256: m.cold.baseSha256, sourceAddress, listenAddress };
        const reply = await withActionEvent(this.db, event('compute_prep_resize', dest), () => this.rpc.prepare(dest, body, ctx));
        return this.step(m, 'destination-prepared', { exports: reply.exports });
      }
      case 'stop':
        // Always asked: a stopped guest answers at once, and the copy needs it off either way.
        await this.rpc.stop(m.sourceHost, m.serverId, this.config.NUBO_STOP_GRACE_S, ctx);
        return this.step(m, 'source-stopped');
      case 'transfer': {
        const [, address] = await this.addresses(m.sourceHost, dest);
        const body = { ...ref, destination: { address, exports: m.cold.exports ?? [] } };
        const reply = await withActionEvent(this.db, event('compute_resize_instance', m.sourceHost), () => this.rpc.transfer(m.sourceHost, body, ctx));
        return this.step(m, 'transferred', { transfer: reply.disks });
      }
      case 'finish': {
        // Written before the call: from here on the destination may run the guest.
        if (m.cold.step === 'transferred') m = await this.step(m, 'finishing');
        const spec = await this.specs.build(server, ctx.requestId);
        const powerOn = powerOnAfterResize(m.oldVmState);
        await withActionEvent(this.db, event('compute_finish_resize', dest), () => this.rpc.finish(dest, { ...ref, spec, powerOn }, ctx));
        return this.step(m, 'destination-finished');
      }
      case 'move': {
        const cold: ColdMigrationState = { ...m.cold, step: 'moved' };
        const moved = await this.db.transaction(async (tx) => {
          if (!(await this.claims.move(tx, { ...m, destHost: dest }))) return false;
          return setColdMigration(tx, m.id, ['migrating'], 'post-migrating', { cold });
        });
        if (!moved) throw new ServerLeft();
        return { ...m, status: 'post-migrating', cold };
      }
    }
  }

  /** After the move: ports bound to the destination, then VERIFY_RESIZE with the destination's power state. */
  private async complete(m: Record_, ctx: ColdCtx): Promise<JobOutcome> {
    const dest = m.destHost!;
    await this.db.query(`UPDATE compute.servers SET task_state = $3, updated_at = now() WHERE id = $1 AND task_state = $2`, [
      m.serverId,
      TaskState.ResizeMigrated,
      TaskState.ResizeFinish,
    ]);
    await this.rpc.network('commit', m.serverId, dest, ctx);
    const status = await this.rpc.status(dest, m.serverId, ctx);
    const done = await this.db.transaction(async (tx) => {
      const row = await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = NULL, power_state = $4, fault = NULL, updated_at = now()
          WHERE id = $1 AND task_state = ANY($2) AND deleted_at IS NULL`,
        [m.serverId, [TaskState.ResizeMigrated, TaskState.ResizeFinish], VmState.Resized, status.powerState],
      );
      return row[1] === 1 && (await setColdMigration(tx, m.id, ['post-migrating'], 'finished'));
    });
    if (!done) return 'skipped';
    this.logger.log(`server ${m.serverId} cold-migrated from ${m.sourceHost} to ${dest} (${status.powerState}): VERIFY_RESIZE migrationId=${m.id} requestId=${ctx.requestId}`);
    return 'done';
  }

  /** Persists the step reached (and what it learned), returning the record as it now is. */
  private async step(m: Record_, step: ColdStep, extra: Partial<ColdMigrationState> = {}): Promise<Record_> {
    const cold = { ...m.cold, ...extra, step };
    if (!(await setColdMigration(this.db, m.id, [m.status], m.status, { cold }))) throw new ServerLeft();
    return { ...m, cold };
  }

  private async reload(m: Record_): Promise<Record_> {
    const now = await getColdMigration(this.db, m.id);
    if (!now) throw new ServerLeft();
    return now;
  }

  /** The underlay addresses of the source and the destination (the disks travel between them). */
  private async addresses(source: string, dest: string): Promise<[string, string]> {
    const rows: Array<{ id: string; ip: string | null }> = await this.db.query(`SELECT id, underlay_ip AS ip FROM compute.hosts WHERE id = ANY($1)`, [[source, dest]]);
    const ip = (id: string) => {
      const found = rows.find((r) => r.id === id)?.ip;
      if (!found) throw new NoValidHostError(`host ${id} has no underlay address for the disk copy`);
      return found.replace(/\/\d+$/, '');
    };
    return [ip(source), ip(dest)];
  }
}

const messageOf = (error: unknown) => (error instanceof NuboError || error instanceof Error ? error.message : String(error));
