/**
 * Nova's migrate (cold migration), API side. One transaction: the task state's compare-and-set
 * to resize_prep (status RESIZE), the migration record (type `migration`, status pre-migrating,
 * the flavor unchanged, no destination yet), the instance action `migrate`; then one
 * `server.cold-migrate` job. Whatever fails before the job is queued is taken back. Admins only
 * (os_compute_api:os-migrate-server:migrate). The destination is the scheduler's choice; the
 * move ends in VERIFY_RESIZE, and confirmResize / revertResize (ServerResizeService) finish it.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, TaskState } from '@nubo/contracts';
import { ServerEntity, insertColdMigration, recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';
import { MIGRATE_ACTION, MIGRATE_FROM, parseMigrate } from './cold-migrate-request';
import { enqueueMove } from './enqueue-move';

@Injectable()
export class ColdMigrationService {
  private readonly logger = new Logger(ColdMigrationService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  /** migrate; undefined for any other action name. */
  async act(name: string, body: Record<string, unknown>, server: ServerEntity, auth: AuthContext, requestId: string): Promise<{ status: 202 } | undefined> {
    if (name !== MIGRATE_ACTION) return undefined;
    // Nova validates the body before it asks the policy.
    parseMigrate(body);
    requireAdmin(auth, 'os_compute_api:os-migrate-server:migrate');
    if (server.taskState) throw new ConflictError(`Cannot '${MIGRATE_ACTION}' instance ${server.id} while it is in task_state ${server.taskState}`);
    if (!MIGRATE_FROM.includes(server.vmState) || !server.hostId) {
      throw new ConflictError(`Cannot '${MIGRATE_ACTION}' instance ${server.id} while it is in vm_state ${server.vmState}`);
    }
    const source = server.hostId;
    const [host]: Array<{ state: string }> = await this.db.query(`SELECT state FROM compute.hosts WHERE id = $1`, [source]);
    // Nova's check_instance_host(check_is_up=True), as for resize.
    if (!host || host.state === 'down' || host.state === 'fenced') throw new ConflictError('Service is unavailable at this time.');

    const migrationId = randomUUID();
    await this.db.transaction(async (tx) => {
      const claimed = await tx.query(
        `UPDATE compute.servers SET task_state = $2, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = $3 AND host_id = $4`,
        [server.id, TaskState.ResizePrep, server.vmState, source],
      );
      if (claimed[1] !== 1) throw new ConflictError(`Cannot '${MIGRATE_ACTION}' instance ${server.id} while it is in task_state ${TaskState.ResizePrep}`);
      await insertColdMigration(tx, {
        id: migrationId,
        serverId: server.id,
        projectId: server.projectId,
        userId: auth.userId,
        sourceHost: source,
        flavorId: server.flavorId,
        flavor: server.flavor,
        oldVmState: server.vmState,
        requestId,
      });
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: MIGRATE_ACTION, requestId });
    });
    await enqueueMove(this.db, this.jobs, this.logger, {
      job: 'server.cold-migrate',
      what: 'migration',
      serverId: server.id,
      migrationId,
      requestId,
      taskState: TaskState.ResizePrep,
      recordStatus: 'pre-migrating',
    });
    this.logger.log(`cold migration of server ${server.id} from ${source} queued migrationId=${migrationId} requestId=${requestId}`);
    return { status: 202 };
  }
}
