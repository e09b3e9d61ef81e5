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
 * Lock order as every placement writer: the group row, the server row, then host rows.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NoValidHostError, TaskState } from '@nubo/contracts';
import { ColdMigrationRecord, setColdMigration } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { FAILOVER_RESERVE_KEY } from '../placement/filters/failover-reserve.host-filter';
import { claimOnHost, freeAllocations, lockHostsOf } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { HostCandidate, PlacementRequest } from '../placement/placement-types';
import { DEFAULT_SCHEDULING, buildPipeline } from '../placement/scheduling-config';
import { Pipeline, schedule } from '../placement/scheduling-pipeline';
import { PlacementInput } from './placement-input';

/** Thrown inside the claim transaction to roll it back. */
class Retry extends Error {}
class Gone extends Error {}

const ATTEMPTS = 10;

@Injectable()
export class ColdMigrateClaims {
  private readonly logger = new Logger(ColdMigrateClaims.name);
  private readonly pipeline: Pipeline;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) config: Partial<SchedulerConfig>,
  ) {
    this.pipeline = buildPipeline({ ...DEFAULT_SCHEDULING, ...config });
  }

  /**
   * Chooses the destination and claims it for the migration; in the same transaction the record
   * goes pre-migrating -> migrating (step claimed, dest_host) and the server resize_prep ->
   * resize_migrating. 'gone' when the server or the record moved on. NoValidHostError names the
   * filter that left no host.
   */
  async claim(m: ColdMigrationRecord, input: PlacementInput): Promise<{ hostId: string } | 'gone'> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        return await this.db.transaction((tx) => this.tryClaim(tx, m, input));
      } catch (error) {
        if (error instanceof Gone) return 'gone';
        if (!(error instanceof Retry)) throw error;
      }
    }
    throw new Error(`the destination claim of migration ${m.id} lost ${ATTEMPTS} races in a row`);
  }

  private async tryClaim(tx: EntityManager, m: ColdMigrationRecord, input: PlacementInput): Promise<{ hostId: string }> {
    const group = await this.lockGroup(tx, m.serverId);
    const server = await tx.query(
      `SELECT 1 FROM compute.servers WHERE id = $1 AND task_state = $2 AND host_id = $3 AND deleted_at IS NULL FOR UPDATE`,
      [m.serverId, TaskState.ResizePrep, m.sourceHost],
    );
    if (server.length === 0) throw new Gone();
    const request: PlacementRequest = { serverId: m.serverId, ...input, forcedHost: null, excludedHosts: [m.sourceHost], ...(group ? { group } : {}) };
    let hosts = await this.placement.hosts.get({ fresh: true });
    let chosen = this.decide(hosts, request);
    const reserves = chosen.aggregates.filter((a) => a.metadata[FAILOVER_RESERVE_KEY] === 'true').map((a) => a.id).sort();
    if (reserves.length) {
      // The N+1 reserve is a rule over the aggregate: decided again on numbers read after its lock.
      for (const id of reserves) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nubo-failover-reserve:${id}`]);
      hosts = await this.placement.hosts.get({ fresh: true });
      chosen = this.decide(hosts, request);
    }
    const usage = await claimOnHost(tx, chosen.id, m.flavor, 1);
    if (!usage) throw new Retry();
    const [meta]: Array<{ version: string }> = await tx.query(`SELECT version::text AS version FROM compute.placement_metadata WHERE id = 1`);
    if (meta && meta.version !== this.placement.hosts.metadataVersion(hosts)) throw new Retry();
    await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`, [
      m.id,
      chosen.id,
      m.flavor.vcpus,
      m.flavor.ramMb,
      m.flavor.diskGb,
    ]);
    if (!(await setColdMigration(tx, m.id, ['pre-migrating'], 'migrating', { destHost: chosen.id, cold: { ...m.cold, step: 'claimed' } }))) throw new Gone();
    const moved = await tx.query(`UPDATE compute.servers SET task_state = $2, updated_at = now() WHERE id = $1 AND task_state = $3`, [
      m.serverId,
      TaskState.ResizeMigrating,
      TaskState.ResizePrep,
    ]);
    if (moved[1] !== 1) throw new Gone();
    this.placement.hosts.patch(chosen.id, usage);
    this.logger.log(`cold migration ${m.id} of server ${m.serverId}: destination ${chosen.id} claimed`);
    return { hostId: chosen.id };
  }

  private decide(hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest): HostCandidate {
    const { ranked, explanation } = schedule(hosts, request, this.pipeline, { limit: 1 });
    if (!ranked[0]) throw new NoValidHostError(explanation.noValidHost ?? 'There are not enough hosts available.');
    return ranked[0];
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
  async release(tx: EntityManager, m: ColdMigrationRecord): Promise<void> {
    const freed = await freeAllocations(tx, `consumer_id = $1`, [m.id]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
  }

  /** Revert after the move: the server's destination claim goes and the source's is the server's again. Idempotent. */
  async revert(tx: EntityManager, m: ColdMigrationRecord): Promise<void> {
    await lockHostsOf(tx, `consumer_id = $1 OR consumer_id = $2`, [m.id, m.serverId]);
    const held: unknown[] = await tx.query(`SELECT 1 FROM compute.allocations WHERE consumer_id = $1`, [m.id]);
    if (held.length === 0) return;
    const freed = await freeAllocations(tx, `consumer_id = $1`, [m.serverId]);
    await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1`, [m.id, m.serverId]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
  }

  /** The server's group (locked) and where its other members are. */
  private async lockGroup(tx: EntityManager, serverId: string): Promise<PlacementRequest['group']> {
    const rows: Array<{ id: string; policy: NonNullable<PlacementRequest['group']>['policy'] }> = await tx.query(
      `SELECT g.id, g.policy FROM compute.server_group_members m JOIN compute.server_groups g ON g.id = m.group_id
        WHERE m.server_id = $1 FOR UPDATE OF g`,
      [serverId],
    );
    if (rows.length === 0) return undefined;
    const members: Array<{ host_id: string }> = await tx.query(
      `SELECT s.host_id FROM compute.server_group_members m JOIN compute.servers s ON s.id = m.server_id
        WHERE m.group_id = $1 AND s.id <> $2 AND s.host_id IS NOT NULL AND s.deleted_at IS NULL`,
      [rows[0].id, serverId],
    );
    return { policy: rows[0].policy, memberHosts: members.map((r) => r.host_id) };
  }
}
