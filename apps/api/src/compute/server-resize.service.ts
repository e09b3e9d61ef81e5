/**
 * Nova's resize, confirmResize and revertResize, API side. Each is one transaction: the quota
 * check (resize, and the revert of a downsize) under the project's lock, the task state's
 * compare-and-set, the migration record's status, the instance action; then one `server.resize`
 * job. Whatever fails before the job is queued is taken back.
 *
 * Cold resize stays on the server's host (a move between hosts arrives with live migration).
 */
import { serverStorage, storageOf } from './shared/server-storage';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, NotFoundError, ServerResizeJob, TaskState, TimeoutError, ValidationError, VmState, jobId } from '@nubo/contracts';
import { MigrationRecord, MigrationStatus, ServerEntity, insertMigration, openMigration, recordAction, setMigrationStatus } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { FlavorsService } from './flavors/flavors.service';
import { QuotaService } from './quotas/quota.service';
import { checkResizeQuota } from './server-resize-quota';
import {
  CONFIRM_RESIZE_ACTION,
  RESIZED_FROM,
  RESIZE_ACTION,
  RESIZE_FROM,
  REVERT_RESIZE_ACTION,
  parseResize,
  resizeProblem,
  upsizeDelta,
} from './server-resize';

/** What the controller answers: resize and revertResize 202, confirmResize 204 (Nova's), no body. */
export type ResizeActionResult = { status: 202 } | { status: 204 };

@Injectable()
export class ServerResizeService {
  private readonly logger = new Logger(ServerResizeService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(FlavorsService) private readonly flavors: FlavorsService,
    @Inject(QuotaService) private readonly quotas: QuotaService,
  ) {}

  /** The resize actions; undefined for any other action name. */
  async act(name: string, body: Record<string, unknown>, server: ServerEntity, auth: AuthContext, requestId: string): Promise<ResizeActionResult | undefined> {
    if (name === RESIZE_ACTION) {
      await this.resize(server, parseResize(body).flavorRef, auth, requestId);
      return { status: 202 };
    }
    if (name === CONFIRM_RESIZE_ACTION) {
      await this.finish(server, 'confirm', auth, requestId);
      return { status: 204 };
    }
    if (name === REVERT_RESIZE_ACTION) {
      await this.finish(server, 'revert', auth, requestId);
      return { status: 202 };
    }
    return undefined;
  }

  async resize(server: ServerEntity, flavorRef: string, auth: AuthContext, requestId: string): Promise<void> {
    assertState(RESIZE_ACTION, server, RESIZE_FROM);
    const hostId = server.hostId;
    if (!hostId) throw new ConflictError(`Cannot '${RESIZE_ACTION}' instance ${server.id} while it has no host`);
    const [host]: Array<{ state: string }> = await this.db.query(`SELECT state FROM compute.hosts WHERE id = $1`, [hostId]);
    // Nova's check_instance_host(check_is_up=True): ServiceUnavailable, 409 on resize. A disabled
    // host is up: its scheduler filter refuses it later (NoValidHost), as Nova's ComputeFilter does.
    if (!host || host.state === 'down' || host.state === 'fenced') throw new ConflictError('Service is unavailable at this time.');
    const flavor = await this.flavors.get(flavorRef, auth).catch((error: unknown) => {
      throw error instanceof NotFoundError ? new ValidationError(`Flavor ${flavorRef} could not be found.`, 'flavorRef') : error;
    });
    // The new flavor travels whole (ephemeral disk, extra specs): the row embeds it after the resize.
    const next = {
      vcpus: flavor.vcpus,
      ramMb: flavor.ramMb,
      diskGb: flavor.diskGb,
      name: flavor.name,
      ephemeralGb: flavor.ephemeralGb,
      extraSpecs: flavor.extraSpecs,
    };
    const current = { id: server.flavorId, ...server.flavor, ephemeralGb: await this.ephemeralGbOf(server), storage: await serverStorage(this.db, server) };
    const problem = resizeProblem(current, { id: flavor.id, ...next, storage: storageOf(flavor.extraSpecs) });
    if (problem) throw new ValidationError(problem, 'flavorRef');

    const migration: MigrationRecord = {
      id: randomUUID(),
      serverId: server.id,
      projectId: server.projectId,
      migrationType: 'resize',
      status: 'pre-migrating',
      sourceHost: hostId,
      destHost: hostId,
      oldFlavorId: server.flavorId,
      oldFlavor: server.flavor,
      newFlavorId: flavor.id,
      newFlavor: next,
      oldVmState: server.vmState,
      requestId,
    };
    await this.db.transaction(async (tx) => {
      await checkResizeQuota(this.quotas, tx, server.projectId, upsizeDelta(server.flavor, next));
      // The vm_state is part of the compare-and-set: the migration records the state it returns to.
      await this.claim(tx, RESIZE_ACTION, server, TaskState.ResizePrep, { vmState: server.vmState, hostId, flavorId: server.flavorId });
      await insertMigration(tx, migration);
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: RESIZE_ACTION, requestId });
    });
    await this.enqueue(server.id, migration.id, 'resize', requestId, TaskState.ResizePrep, 'pre-migrating');
    this.logger.log(`resize of server ${server.id} to flavor ${flavor.id} queued migrationId=${migration.id} requestId=${requestId}`);
  }

  /** confirmResize or revertResize of the server's finished resize. */
  async finish(server: ServerEntity, step: 'confirm' | 'revert', auth: AuthContext, requestId: string): Promise<void> {
    const action = step === 'confirm' ? CONFIRM_RESIZE_ACTION : REVERT_RESIZE_ACTION;
    const task = step === 'confirm' ? TaskState.ResizeConfirming : TaskState.ResizeReverting;
    assertState(action, server, RESIZED_FROM);
    const migration = await openMigration(this.db, server.id);
    // Nova's MigrationNotFound on confirm and revert: 400.
    if (!migration || migration.status !== 'finished') throw new ValidationError('Instance has not been resized.', 'action');
    await this.db.transaction(async (tx) => {
      // A revert of a downsize grows the server back: Nova checks that delta too.
      if (step === 'revert') await checkResizeQuota(this.quotas, tx, server.projectId, upsizeDelta(migration.newFlavor, migration.oldFlavor));
      await this.claim(tx, action, server, task, { vmState: VmState.Resized });
      if (!(await setMigrationStatus(tx, migration.id, ['finished'], step === 'confirm' ? 'confirming' : 'reverting'))) {
        throw new ValidationError('Instance has not been resized.', 'action');
      }
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action, requestId });
    });
    await this.enqueue(server.id, migration.id, step, requestId, task, 'finished');
    this.logger.log(`${action} of server ${server.id} queued migrationId=${migration.id} requestId=${requestId}`);
  }

  /** The server's ephemeral disk: from its embedded flavor, else its flavor's row (0 when deleted). */
  private async ephemeralGbOf(server: ServerEntity): Promise<number> {
    const embedded = (server.flavor as { ephemeralGb?: number }).ephemeralGb;
    if (embedded !== undefined) return embedded;
    const [row]: Array<{ ephemeral_gb: number }> = await this.db.query(`SELECT ephemeral_gb FROM compute.flavors WHERE id = $1`, [server.flavorId]);
    return row?.ephemeral_gb ?? 0;
  }

  /** The task state's compare-and-set; 409 naming what is in the way when another request won. */
  private async claim(
    tx: EntityManager,
    action: string,
    server: ServerEntity,
    task: TaskState,
    where: { vmState: VmState; hostId?: string; flavorId?: string },
  ): Promise<void> {
    const result = await tx.query(
      `UPDATE compute.servers SET task_state = $2, updated_at = now()
        WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = $3
          AND ($4::text IS NULL OR host_id = $4) AND ($5::text IS NULL OR flavor_id = $5)`,
      [server.id, task, where.vmState, where.hostId ?? null, where.flavorId ?? null],
    );
    if (result[1] === 1) return;
    const now = await tx.getRepository(ServerEntity).findOneBy({ id: server.id });
    const why = now?.taskState ? `task_state ${now.taskState}` : `vm_state ${now?.vmState ?? VmState.Deleted}`;
    throw new ConflictError(`Cannot '${action}' instance ${server.id} while it is in ${why}`);
  }

  private async enqueue(serverId: string, migrationId: string, step: ServerResizeJob['step'], requestId: string, task: TaskState, before: MigrationStatus): Promise<void> {
    try {
      await this.jobs.enqueue('server.resize', { serverId, requestId, migrationId, step }, { jobId: jobId('server.resize', serverId, requestId) });
    } catch (error) {
      // Not queued: the server and its migration go back to where they were.
      await this.db.transaction(async (tx) => {
        await tx.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1 AND task_state = $2`, [serverId, task]);
        if (step === 'resize') await setMigrationStatus(tx, migrationId, ['pre-migrating'], 'error');
        else await setMigrationStatus(tx, migrationId, [step === 'confirm' ? 'confirming' : 'reverting'], before);
      });
      this.logger.error(`could not enqueue the ${step} of ${serverId}: ${(error as Error).message}`);
      throw new TimeoutError(`The job queue is unavailable; the ${step} was not started. Try again.`);
    }
  }
}

/** Nova's check_instance_state: 409 naming what is in the way. */
function assertState(action: string, server: ServerEntity, from: VmState[]): void {
  if (server.taskState) throw new ConflictError(`Cannot '${action}' instance ${server.id} while it is in task_state ${server.taskState}`);
  if (!from.includes(server.vmState)) throw new ConflictError(`Cannot '${action}' instance ${server.id} while it is in vm_state ${server.vmState}`);
}
