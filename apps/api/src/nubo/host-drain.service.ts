/**
 * Host drain: the host goes to maintenance (the scheduler's ComputeFilter then places nothing
 * there, new servers or moves), and every server on it is live-migrated away through the
 * ordinary os-migrateLive path (one `server.live-migrate` job per server, no host named: the
 * scheduler's filters choose, server groups included). What started, or why not, is kept per
 * server; the report reads each migration's status live. Undrain gives the host back the state
 * it had before. Draining again retries the servers still on the host.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, HostState, NotFoundError } from '@nubo/contracts';
import { LIVE_OPEN_STATUSES, ServerEntity, setHostStateReason } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { LIVE_MIGRATE_ACTION } from '../compute/migrations/live-migrate-request';
import { LiveMigrationService } from '../compute/migrations/live-migration.service';
import { requireAdmin } from '../compute/shared/nova-policy';
import { DrainRow, DrainServerRow, drainView } from './host-drain-view';

/** A host whose agent does not answer cannot send its guests anywhere. */
const DRAINABLE = [HostState.Up, HostState.Disabled, HostState.Maintenance];
/** The microversion the drain speaks to the live-migration API: block migration "auto". */
const DRAIN_VERSION = '2.30';

@Injectable()
export class HostDrainService {
  private readonly logger = new Logger(HostDrainService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(LiveMigrationService) private readonly live: LiveMigrationService,
  ) {}

  async drain(hostId: string, auth: AuthContext, requestId: string): Promise<ReturnType<typeof drainView>> {
    requireAdmin(auth, 'nubo:hosts:drain');
    const drainId = await this.db.transaction(async (tx) => {
      const [host]: Array<{ state: string; disabled_reason: string | null }> = await tx.query(
        `SELECT state, disabled_reason FROM compute.hosts WHERE id = $1 FOR UPDATE`,
        [hostId],
      );
      if (!host) throw new NotFoundError(`Compute host ${hostId} could not be found.`);
      if (!DRAINABLE.includes(host.state as HostState)) throw new ConflictError(`Host ${hostId} is ${host.state}: its servers cannot be live-migrated.`);
      const [open]: Array<{ id: string }> = await tx.query(`SELECT id FROM compute.host_drains WHERE host_id = $1 AND undrained_at IS NULL`, [hostId]);
      if (open) {
        await tx.query(`UPDATE compute.host_drains SET updated_at = now() WHERE id = $1`, [open.id]);
        return open.id;
      }
      const id = randomUUID();
      await tx.query(`INSERT INTO compute.host_drains (id, host_id, previous_state, previous_reason) VALUES ($1, $2, $3, $4)`, [
        id,
        hostId,
        host.state,
        host.disabled_reason,
      ]);
      await setHostStateReason(tx, `drained by user ${auth.userId} (drain ${id}): its servers are live-migrated away`);
      await tx.query(`UPDATE compute.hosts SET state = $2, disabled_reason = 'drain' WHERE id = $1`, [hostId, HostState.Maintenance]);
      return id;
    });
    const servers = await this.db.getRepository(ServerEntity).find({ where: { hostId, deletedAt: IsNull() }, order: { createdAt: 'ASC' } });
    for (const server of servers) await this.start(drainId, server, auth, requestId);
    this.logger.log(`host ${hostId} draining: ${servers.length} server(s) drainId=${drainId} requestId=${requestId}`);
    return this.report(hostId, auth);
  }

  /** One server's live migration, through the API's own path; a refusal is recorded, not thrown. */
  private async start(drainId: string, server: ServerEntity, auth: AuthContext, requestId: string): Promise<void> {
    const [moving] = await this.db.query(
      `SELECT 1 FROM compute.host_drain_servers d JOIN compute.migrations m ON m.id = d.migration_id
        WHERE d.drain_id = $1 AND d.server_id = $2 AND m.status = ANY($3)`,
      [drainId, server.id, LIVE_OPEN_STATUSES],
    );
    if (moving) return; // this drain's migration of it is still under way
    let migrationId: string | null = null;
    let error: string | null = null;
    try {
      const body = { [LIVE_MIGRATE_ACTION]: { host: null, block_migration: 'auto' } };
      await this.live.act(LIVE_MIGRATE_ACTION, body, server, auth, requestId, DRAIN_VERSION);
      const [m]: Array<{ id: string }> = await this.db.query(
        `SELECT id FROM compute.migrations WHERE server_id = $1 AND request_id = $2 ORDER BY created_at DESC LIMIT 1`,
        [server.id, requestId],
      );
      migrationId = m?.id ?? null;
    } catch (e) {
      error = (e as Error).message;
      this.logger.warn(`drain could not move server ${server.id} off ${server.hostId}: ${error}`);
    }
    await this.db.query(
      `INSERT INTO compute.host_drain_servers (drain_id, server_id, migration_id, error) VALUES ($1, $2, $3, $4)
       ON CONFLICT (drain_id, server_id) DO UPDATE SET migration_id = EXCLUDED.migration_id, error = EXCLUDED.error, created_at = now()`,
      [drainId, server.id, migrationId, error],
    );
  }

  /** The host's open drain, else its last one. */
  async report(hostId: string, auth: AuthContext): Promise<ReturnType<typeof drainView>> {
    requireAdmin(auth, 'nubo:hosts:drain:show');
    const [host]: Array<{ state: string }> = await this.db.query(`SELECT state FROM compute.hosts WHERE id = $1`, [hostId]);
    if (!host) throw new NotFoundError(`Compute host ${hostId} could not be found.`);
    const [drain]: DrainRow[] = await this.db.query(
      `SELECT id, host_id, created_at, undrained_at FROM compute.host_drains WHERE host_id = $1
        ORDER BY undrained_at IS NULL DESC, created_at DESC LIMIT 1`,
      [hostId],
    );
    if (!drain) throw new NotFoundError(`Host ${hostId} has never been drained.`);
    const rows: DrainServerRow[] = await this.db.query(
      `SELECT d.server_id, d.migration_id AS migration_uuid, m.number AS migration_number, m.status AS migration_status,
              m.live->>'outcome' AS outcome, d.error, s.host_id AS server_host, s.vm_state AS server_status_vm
         FROM compute.host_drain_servers d
         LEFT JOIN compute.migrations m ON m.id = d.migration_id
         LEFT JOIN compute.servers s ON s.id = d.server_id
        WHERE d.drain_id = $1 ORDER BY d.created_at, d.server_id`,
      [drain.id],
    );
    const [{ remaining }] = await this.db.query(`SELECT count(*)::int AS remaining FROM compute.servers WHERE host_id = $1 AND deleted_at IS NULL`, [hostId]);
    return drainView(drain, host.state, rows, remaining);
  }

  /** Back in service: the state the host had before the drain (a maintenance host set by hand stays). */
  async undrain(hostId: string, auth: AuthContext): Promise<{ host: { id: string; state: string } }> {
    requireAdmin(auth, 'nubo:hosts:undrain');
    return this.db.transaction(async (tx) => {
      const [host]: Array<{ state: string }> = await tx.query(`SELECT state FROM compute.hosts WHERE id = $1 FOR UPDATE`, [hostId]);
      if (!host) throw new NotFoundError(`Compute host ${hostId} could not be found.`);
      const [drain]: Array<{ id: string; previous_state: string; previous_reason: string | null }> = await tx.query(
        `UPDATE compute.host_drains SET undrained_at = now(), updated_at = now() WHERE host_id = $1 AND undrained_at IS NULL
         RETURNING id, previous_state, previous_reason`,
        [hostId],
      ).then(([rows]) => rows);
      if (!drain) throw new ConflictError(`Host ${hostId} is not being drained.`);
      // Only a host still in the drain's maintenance goes back; one that went down meanwhile stays down.
      await setHostStateReason(tx, `undrained by user ${auth.userId}: back to its state before drain ${drain.id}`);
      await tx.query(`UPDATE compute.hosts SET state = $2, disabled_reason = $3 WHERE id = $1 AND state = $4`, [
        hostId,
        drain.previous_state,
        drain.previous_reason,
        HostState.Maintenance,
      ]);
      const [now]: Array<{ state: string }> = await tx.query(`SELECT state FROM compute.hosts WHERE id = $1`, [hostId]);
      this.logger.log(`host ${hostId} undrained: ${now.state}`);
      return { host: { id: hostId, state: now.state } };
    });
  }
}
