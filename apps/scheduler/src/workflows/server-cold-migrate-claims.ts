/**
 * Placement of a cold migration. The destination is chosen by the same filters and weighers as a
 * create (zone, traits, image properties, capacity, server group policies, the N+1 reserve) with
 * the server's current host excluded; the forced host of its create is dropped (Nova resets forced
 * destinations for a move). Who holds what:
 *
 *   claim .. move         the migration (consumer = migration id) holds the destination's claim,
 *                         the server its source claim: a failure frees only the migration's
 *   move .. confirm       swapped in the move's transaction: the server holds the destination,
 *                         the migration the source (as a resize's migration holds the old flavor)
 *   confirm               the migration's (the source) is freed
 *   revert                the server's (the destination) is freed, the migration's is the server's again
 *
 * The choosing and claiming is MoveClaims' (move-claims.ts), shared with live migration and evacuation.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { TaskState } from '@nubo/contracts';
import { ColdMigrationRecord, setColdMigration } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { lockHostsOf } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { DEFAULT_SCHEDULING, buildPipeline } from '../placement/scheduling-config';
import { ClaimGone, ClaimSteps, MoveClaims } from './move-claims';
import { PlacementInput } from './placement-input';

@Injectable()
export class ColdMigrateClaims {
  private readonly claims: MoveClaims;

  constructor(
    @Inject(DataSource) db: DataSource,
    @Inject(PlacementService) placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) config: Partial<SchedulerConfig>,
  ) {
    this.claims = new MoveClaims(db, placement, buildPipeline({ ...DEFAULT_SCHEDULING, ...config }), new Logger(ColdMigrateClaims.name));
  }

  /**
   * Chooses the destination and claims it for the migration; in the same transaction the record
   * goes pre-migrating -> migrating (step claimed, dest_host) and the server resize_prep ->
   * resize_migrating. 'gone' when the server or the record moved on. NoValidHostError names the
   * filter that left no host.
   */
  async claim(m: ColdMigrationRecord, input: PlacementInput): Promise<{ hostId: string } | 'gone'> {
    const c = { serverId: m.serverId, consumerId: m.id, flavor: m.flavor };
    const steps: ClaimSteps<void> = { lockServer: (tx) => this.lockServer(tx, m), record: (tx, hostId) => this.record(tx, m, hostId) };
    const request = { serverId: m.serverId, ...input, forcedHost: null, excludedHosts: [m.sourceHost] };
    const claimed = await this.claims.transaction(`the destination claim of migration ${m.id}`, (tx) => this.claims.chosen(tx, c, request, steps));
    return claimed === 'gone' ? 'gone' : { hostId: claimed.hostId };
  }

  /** The server row, locked; ClaimGone unless it is still being prepared for the move from the source. */
  private async lockServer(tx: EntityManager, m: ColdMigrationRecord): Promise<void> {
    const server = await tx.query(
      `SELECT 1 FROM compute.servers WHERE id = $1 AND task_state = $2 AND host_id = $3 AND deleted_at IS NULL FOR UPDATE`,
      [m.serverId, TaskState.ResizePrep, m.sourceHost],
    );
    if (server.length === 0) throw new ClaimGone();
  }

  /** pre-migrating -> migrating with the destination, and the server resize_prep -> resize_migrating. */
  private async record(tx: EntityManager, m: ColdMigrationRecord, hostId: string): Promise<void> {
    if (!(await setColdMigration(tx, m.id, ['pre-migrating'], 'migrating', { destHost: hostId, cold: { ...m.cold, step: 'claimed' } }))) throw new ClaimGone();
    const moved = await tx.query(`UPDATE compute.servers SET task_state = $2, updated_at = now() WHERE id = $1 AND task_state = $3`, [
      m.serverId,
      TaskState.ResizeMigrating,
      TaskState.ResizePrep,
    ]);
    if (moved[1] !== 1) throw new ClaimGone();
  }

  /**
   * The move, in the caller's transaction: the server is on the destination (task state
   * resize_migrated) and the two claims change hands (the hosts' sums do not change). False
   * (nothing changed) unless the server is still migrating from the source.
   */
  async move(tx: EntityManager, m: ColdMigrationRecord & { destHost: string }): Promise<boolean> {
    await lockHostsOf(tx, `consumer_id = $1 OR consumer_id = $2`, [m.serverId, m.id]);
    const moved = await tx.query(
      `UPDATE compute.servers SET host_id = $3, task_state = $5, updated_at = now()
        WHERE id = $1 AND host_id = $2 AND task_state = $4 AND deleted_at IS NULL`,
      [m.serverId, m.sourceHost, m.destHost, TaskState.ResizeMigrating, TaskState.ResizeMigrated],
    );
    if (moved[1] !== 1) return false;
    await tx.query(
      `UPDATE compute.allocations SET consumer_id = CASE WHEN consumer_id = $1 THEN $2::uuid ELSE $1::uuid END
        WHERE (consumer_id = $1 AND host_id = $3) OR (consumer_id = $2 AND host_id = $4)`,
      [m.serverId, m.id, m.sourceHost, m.destHost],
    );
    return true;
  }

  /** A failure before the move: the destination's claim (the migration's) goes. Idempotent. */
  release(tx: EntityManager, m: ColdMigrationRecord): Promise<void> {
    return this.claims.release(tx, m.id);
  }

  /** Revert after the move: the server's destination claim goes and the source's is the server's again. Idempotent. */
  async revert(tx: EntityManager, m: ColdMigrationRecord): Promise<void> {
    await lockHostsOf(tx, `consumer_id = $1 OR consumer_id = $2`, [m.id, m.serverId]);
    const held: unknown[] = await tx.query(`SELECT 1 FROM compute.allocations WHERE consumer_id = $1`, [m.id]);
    if (held.length === 0) return;
    await this.claims.handOver(tx, { serverId: m.serverId, consumerId: m.id });
  }
}
