/**
 * Nova's live migration, API side: os-migrateLive (one transaction: the task state's
 * compare-and-set to `migrating`, the migration record `queued`, the instance action; then one
 * `server.live-migrate` job), the admin's abort and force-complete (flags on the record that the
 * scheduler's poll loop honours), and the migration lists. Admins only, as Nova's policies.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, NotFoundError, TaskState, ValidationError, VmState } from '@nubo/contracts';
import {
  LiveMigrationRecord,
  ServerEntity,
  getLiveMigrationByNumber,
  insertLiveMigration,
  openLiveMigrations,
  recordAction,
} from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';
import { serverStorage } from '../shared/server-storage';
import { enqueueMove } from './enqueue-move';
import { LIVE_MIGRATE_ACTION, parseLiveMigrate } from './live-migrate-request';

/** Nova's check_instance_state for live migration. */
const LIVE_MIGRATE_FROM = [VmState.Active, VmState.Paused];
/** Nova's message when disks are local and block migration was refused (libvirt's pre-check). */
const NOT_SHARED = 'Migration pre-check error: Shared storage live-migration requires either shared storage or boot-from-volume with no local disks.';

@Injectable()
export class LiveMigrationService {
  private readonly logger = new Logger(LiveMigrationService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  /** os-migrateLive; undefined for any other action name. */
  async act(name: string, body: Record<string, unknown>, server: ServerEntity, auth: AuthContext, requestId: string, version = '2.1'): Promise<{ status: 202 } | undefined> {
    if (name !== LIVE_MIGRATE_ACTION) return undefined;
    requireAdmin(auth, 'os_compute_api:os-migrate-server:migrate_live');
    const request = parseLiveMigrate(body, version);
    if (server.taskState) throw new ConflictError(`Cannot '${LIVE_MIGRATE_ACTION}' instance ${server.id} while it is in task_state ${server.taskState}`);
    if (!LIVE_MIGRATE_FROM.includes(server.vmState) || !server.hostId) {
      throw new ConflictError(`Cannot '${LIVE_MIGRATE_ACTION}' instance ${server.id} while it is in vm_state ${server.vmState}`);
    }
    const source = server.hostId;
    const hosts: Array<{ id: string; state: string }> = await this.db.query(`SELECT id, state FROM compute.hosts WHERE id = ANY($1)`, [
      [source, request.host ?? source],
    ]);
    const sourceHost = hosts.find((h) => h.id === source);
    if (!sourceHost || sourceHost.state === 'down' || sourceHost.state === 'fenced') {
      throw new ValidationError(`Compute service of ${source} is unavailable at this time.`, 'host');
    }
    if (request.host !== null) {
      if (!hosts.some((h) => h.id === request.host)) throw new ValidationError(`Compute host ${request.host} could not be found.`, 'host');
      if (request.host === source) throw new ValidationError(`Unable to migrate instance (${server.id}) to current host (${source}).`, 'host');
    }
    // Local disks travel with the guest (block migration); disks on shared storage stay where they are.
    const localDisks = await this.hasLocalDisks(server);
    if (request.blockMigration === false && localDisks) throw new ValidationError(NOT_SHARED, 'block_migration');
    if (request.blockMigration === true && (await this.onSharedStorage(server))) {
      throw new ValidationError(`${source} is not on local storage: Block migration can not be used with shared storage.`, 'block_migration');
    }

    const migrationId = randomUUID();
    await this.db.transaction(async (tx) => {
      const claimed = await tx.query(
        `UPDATE compute.servers SET task_state = $2, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = ANY($3) AND host_id = $4`,
        [server.id, TaskState.Migrating, LIVE_MIGRATE_FROM, source],
      );
      if (claimed[1] !== 1) throw new ConflictError(`Cannot '${LIVE_MIGRATE_ACTION}' instance ${server.id} while it is in task_state ${TaskState.Migrating}`);
      await insertLiveMigration(tx, {
        id: migrationId,
        serverId: server.id,
        projectId: server.projectId,
        userId: auth.userId,
        sourceHost: source,
        requestedHost: request.host,
        forceDestination: request.forceDestination,
        blockMigration: localDisks,
        flavorId: server.flavorId,
        flavor: server.flavor,
        oldVmState: server.vmState,
        requestId,
      }).catch((error: { code?: string }) => {
        // The server is ACTIVE on its new host while its last migration removes the old source (post-migrating).
        if (error.code === '23505') throw new ConflictError(`Cannot '${LIVE_MIGRATE_ACTION}' instance ${server.id} while its previous live migration is still finishing`);
        throw error;
      });
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: 'live-migration', requestId });
    });
    await enqueueMove(this.db, this.jobs, this.logger, {
      job: 'server.live-migrate',
      what: 'live migration',
      serverId: server.id,
      migrationId,
      requestId,
      taskState: TaskState.Migrating,
      recordStatus: 'queued',
    });
    this.logger.log(`live migration of server ${server.id} from ${source} queued migrationId=${migrationId} requestId=${requestId}`);
    return { status: 202 };
  }

  /** The server's in-progress live migrations (Nova's GET /servers/{id}/migrations). */
  async list(server: ServerEntity, auth: AuthContext): Promise<LiveMigrationRecord[]> {
    requireAdmin(auth, 'os_compute_api:servers:migrations:index');
    return openLiveMigrations(this.db, server.id);
  }

  async get(server: ServerEntity, migrationId: string, auth: AuthContext): Promise<LiveMigrationRecord> {
    requireAdmin(auth, 'os_compute_api:servers:migrations:show');
    const found = (await openLiveMigrations(this.db, server.id)).find((m) => String(m.number) === migrationId);
    if (!found) throw new NotFoundError(`In-progress live migration ${migrationId} is not found for server ${server.id}.`);
    return found;
  }

  /** force_complete: only while the migration runs (the poll loop then goes post-copy or to the largest downtime). */
  async forceComplete(server: ServerEntity, migrationId: string, auth: AuthContext): Promise<void> {
    requireAdmin(auth, 'os_compute_api:servers:migrations:force_complete');
    const m = await this.migrationOf(server, migrationId, 'force_complete');
    const set = await this.db.query(
      `UPDATE compute.migrations SET force_complete_requested_at = COALESCE(force_complete_requested_at, now()), updated_at = now()
        WHERE id = $1 AND status = 'running'`,
      [m.id],
    );
    if (set[1] !== 1) throw invalidState(m, server, 'force complete');
  }

  /**
   * Abort: while running and not in post-copy (the RAM is then split between hosts); also while
   * queued or preparing when `queued` (Nova allows that from microversion 2.65).
   */
  async abort(server: ServerEntity, migrationId: string, auth: AuthContext, o: { queued: boolean } = { queued: false }): Promise<void> {
    requireAdmin(auth, 'os_compute_api:servers:migrations:delete');
    const m = await this.migrationOf(server, migrationId, 'abort live migration');
    const set = await this.db.query(
      `UPDATE compute.migrations SET abort_requested_at = COALESCE(abort_requested_at, now()), updated_at = now()
        WHERE id = $1 AND status = ANY($2) AND NOT COALESCE((live->>'postcopy')::boolean, false)`,
      [m.id, o.queued ? ['queued', 'preparing', 'running'] : ['running']],
    );
    if (set[1] !== 1) throw invalidState(m, server, 'abort live migration');
    this.logger.log(`abort of live migration ${m.id} of server ${server.id} requested`);
  }

  /** The server's live migration by Nova's integer id; the server must be migrating (Nova: 409 otherwise). */
  private async migrationOf(server: ServerEntity, migrationId: string, method: string): Promise<LiveMigrationRecord> {
    if (server.taskState !== TaskState.Migrating) {
      throw new ConflictError(`Cannot '${method}' instance ${server.id} while it is in task_state ${server.taskState ?? 'None'}`);
    }
    const number = /^[0-9]{1,15}$/.test(migrationId) ? Number(migrationId) : NaN;
    const m = Number.isNaN(number) ? undefined : await getLiveMigrationByNumber(this.db, server.id, number);
    if (!m) throw new NotFoundError(`Migration ${migrationId} for instance ${server.id} could not be found.`);
    return m;
  }

  private async onSharedStorage(server: ServerEntity): Promise<boolean> {
    return (await serverStorage(this.db, server)) === 'shared';
  }

  private async hasLocalDisks(server: ServerEntity): Promise<boolean> {
    if (await this.onSharedStorage(server)) return false;
    if (server.imageRef) return true;
    const embedded = (server.flavor as { ephemeralGb?: number }).ephemeralGb;
    if (embedded !== undefined) return embedded > 0;
    const [row]: Array<{ ephemeral_gb: number }> = await this.db.query(`SELECT ephemeral_gb FROM compute.flavors WHERE id = $1`, [server.flavorId]);
    return (row?.ephemeral_gb ?? 0) > 0;
  }
}

/** Nova's InvalidMigrationState. */
function invalidState(m: LiveMigrationRecord, server: ServerEntity, method: string): ConflictError {
  return new ConflictError(
    `Migration ${m.number} state of instance ${server.id} is ${m.status}. Cannot ${method} while the migration is in this state.`,
  );
}
