/**
 * Placement of a live migration. The destination is chosen by the same filters and weighers as a
 * create (zone, traits, image properties, capacity, server group policies, the N+1 reserve), with
 * the source excluded and an admin's requested host as the forced host; the server's own forced
 * host from its create is dropped (Nova resets forced destinations for a move). A forced request
 * (Nova's `force`, or a host named before 2.30) skips the filters: the requested host is used as
 * given, only its capacity is claimed (and it must be up), as Nova's conductor does. The destination's
 * claim is held by the migration record (consumer = migration id) while the server keeps its
 * source claim: the two hosts hold the server at once until the move commits, which in ONE
 * transaction drops the source claim, hands the destination's to the server and moves its host.
 * A failed or aborted migration releases the destination's claim.
 * The choosing and claiming is MoveClaims' (move-claims.ts), shared with cold migration and evacuation.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { TaskState } from '@nubo/contracts';
import { LiveMigrationRecord, LiveMigrationState, setLiveMigration, sinceCreated } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { PlacementService } from '../placement/placement.service';
import { DEFAULT_SCHEDULING, buildPipeline } from '../placement/scheduling-config';
import { ClaimGone, ClaimSteps, MoveClaims } from './move-claims';
import { PlacementInput } from './placement-input';

/** The destination claimed, and the migration's state as the claim wrote it. */
export interface Claimed {
  hostId: string;
  live: LiveMigrationState;
}

@Injectable()
export class LiveMigrateClaims {
  private readonly claims: MoveClaims;

  constructor(
    @Inject(DataSource) db: DataSource,
    @Inject(PlacementService) placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) config: Partial<SchedulerConfig>,
  ) {
    this.claims = new MoveClaims(db, placement, buildPipeline({ ...DEFAULT_SCHEDULING, ...config }), new Logger(LiveMigrateClaims.name));
  }

  /**
   * Chooses the destination and claims it for the migration; the record goes queued -> preparing
   * with its dest_host, in the same transaction. 'gone' when the server or the record moved on,
   * or an admin asked for an abort. NoValidHostError names the filter that left no host (or, when
   * forced, why the requested host cannot take the server).
   */
  async claim(m: LiveMigrationRecord, input: PlacementInput | undefined, o: { timings?: Record<string, number> } = {}): Promise<Claimed | 'gone'> {
    const c = { serverId: m.serverId, consumerId: m.id, flavor: m.flavor };
    const steps: ClaimSteps<LiveMigrationState> = { lockServer: (tx) => this.lockServer(tx, m), record: (tx, hostId) => this.record(tx, m, hostId, o.timings) };
    const claimed = await this.claims.transaction(`the destination claim of migration ${m.id}`, (tx) => {
      if (m.forceDestination && m.requestedHost) return this.claims.forced(tx, c, m.requestedHost, steps, () => this.whyNot(tx, m.requestedHost!, m));
      if (!input) throw new Error(`live migration ${m.id}: a placement input is needed to choose its destination`);
      return this.claims.chosen(tx, c, { serverId: m.serverId, ...input, forcedHost: m.requestedHost, excludedHosts: [m.sourceHost] }, steps);
    });
    return claimed === 'gone' ? 'gone' : { hostId: claimed.hostId, live: claimed.recorded };
  }

  /** The server row, locked; ClaimGone unless it is still migrating from the source. */
  private async lockServer(tx: EntityManager, m: LiveMigrationRecord): Promise<void> {
    const server = await tx.query(
      `SELECT 1 FROM compute.servers WHERE id = $1 AND task_state = $2 AND host_id = $3 AND deleted_at IS NULL FOR UPDATE`,
      [m.serverId, TaskState.Migrating, m.sourceHost],
    );
    if (server.length === 0) throw new ClaimGone();
  }

  /** queued -> preparing with the destination, unless an admin asked for an abort meanwhile (ClaimGone: the claim rolls back). */
  private async record(tx: EntityManager, m: LiveMigrationRecord, hostId: string, timings?: Record<string, number>): Promise<LiveMigrationState> {
    const live: LiveMigrationState = { ...m.live, step: 'claimed', timings: { ...timings, ...m.live.timings, claimed: sinceCreated(m) } };
    if (!(await setLiveMigration(tx, m.id, ['queued'], 'preparing', { destHost: hostId, live, unlessAborted: true }))) throw new ClaimGone();
    return live;
  }

  /** Why a forced destination cannot take the server: down, or short of what the flavor needs. */
  private async whyNot(tx: EntityManager, hostId: string, m: LiveMigrationRecord): Promise<string> {
    const [host]: Array<{ state: string }> = await tx.query(`SELECT state FROM compute.hosts WHERE id = $1`, [hostId]);
    if (!host) return `Compute host ${hostId} could not be found.`;
    if (host.state !== 'up') return `Compute service of ${hostId} is unavailable at this time (${host.state}).`;
    const f = m.flavor;
    return `Unable to migrate instance (${m.serverId}) to host (${hostId}): not enough free vCPU, RAM or disk for ${f.vcpus} vCPU, ${f.ramMb} MB RAM, ${f.diskGb} GB disk.`;
  }

  /**
   * The move: the source claim goes, the destination's claim becomes the server's and the server
   * is on the destination, idle (no task state), in the caller's transaction. False (nothing
   * changed) unless the server is still migrating from the source.
   */
  async commitMove(tx: EntityManager, m: LiveMigrationRecord & { destHost: string }): Promise<boolean> {
    const moved = await tx.query(
      `UPDATE compute.servers SET host_id = $3, task_state = NULL, updated_at = now() WHERE id = $1 AND host_id = $2 AND task_state = $4 AND deleted_at IS NULL`,
      [m.serverId, m.sourceHost, m.destHost, TaskState.Migrating],
    );
    if (moved[1] !== 1) return false;
    await this.claims.handOver(tx, { serverId: m.serverId, consumerId: m.id });
    return true;
  }

  /** A failed or aborted migration: the destination's claim goes. Idempotent. */
  release(tx: EntityManager, m: LiveMigrationRecord): Promise<void> {
    return this.claims.release(tx, m.id);
  }
}
