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
 *
 * Lock order as every placement writer: the group row, the server row, then host rows.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NoValidHostError, TaskState } from '@nubo/contracts';
import { LiveMigrationRecord, LiveMigrationState, setLiveMigration, sinceCreated } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { FAILOVER_RESERVE_KEY } from '../placement/filters/failover-reserve.host-filter';
import { claimOnHost, freeAllocations } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { HostCandidate, PlacementRequest } from '../placement/placement-types';
import { DEFAULT_SCHEDULING, buildPipeline } from '../placement/scheduling-config';
import { Pipeline, schedule } from '../placement/scheduling-pipeline';
import { PlacementInput } from './placement-input';

/** The destination claimed, and the migration's state as the claim wrote it. */
export interface Claimed {
  hostId: string;
  live: LiveMigrationState;
}

/** Thrown inside the claim transaction to roll it back. */
class Retry extends Error {}
class Gone extends Error {}

const ATTEMPTS = 10;

@Injectable()
export class LiveMigrateClaims {
  private readonly logger = new Logger(LiveMigrateClaims.name);
  private readonly pipeline: Pipeline;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) config: Partial<SchedulerConfig>,
  ) {
    this.pipeline = buildPipeline({ ...DEFAULT_SCHEDULING, ...config });
  }

  /**
   * Chooses the destination and claims it for the migration; the record goes queued -> preparing
   * with its dest_host, in the same transaction. 'gone' when the server or the record moved on,
   * or an admin asked for an abort. NoValidHostError names the filter that left no host (or, when
   * forced, why the requested host cannot take the server).
   */
  async claim(m: LiveMigrationRecord, input: PlacementInput | undefined, o: { timings?: Record<string, number> } = {}): Promise<Claimed | 'gone'> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        return await this.db.transaction((tx) => {
          if (m.forceDestination && m.requestedHost) return this.claimForced(tx, m, m.requestedHost, o.timings);
          if (!input) throw new Error(`live migration ${m.id}: a placement input is needed to choose its destination`);
          return this.tryClaim(tx, m, input, o.timings);
        });
      } catch (error) {
        if (error instanceof Gone) return 'gone';
        if (!(error instanceof Retry)) throw error;
      }
    }
    throw new Error(`the destination claim of migration ${m.id} lost ${ATTEMPTS} races in a row`);
  }

  private async tryClaim(tx: EntityManager, m: LiveMigrationRecord, input: PlacementInput, timings?: Record<string, number>): Promise<Claimed> {
    const group = await this.lockGroup(tx, m.serverId);
    await this.lockServer(tx, m);
    const request: PlacementRequest = {
      serverId: m.serverId,
      ...input,
      forcedHost: m.requestedHost,
      excludedHosts: [m.sourceHost],
      ...(group ? { group } : {}),
    };
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
    const live = await this.record(tx, m, chosen.id, timings);
    this.placement.hosts.patch(chosen.id, usage);
    this.logger.log(`live migration ${m.id} of server ${m.serverId}: destination ${chosen.id} claimed`);
    return { hostId: chosen.id, live };
  }

  /** Forced: no filter, no weigher; the requested host's capacity is claimed (it must be up and fit). */
  private async claimForced(tx: EntityManager, m: LiveMigrationRecord, hostId: string, timings?: Record<string, number>): Promise<Claimed> {
    await this.lockServer(tx, m);
    const usage = await claimOnHost(tx, hostId, m.flavor, 1);
    if (!usage) throw new NoValidHostError(await this.whyNot(tx, hostId, m));
    await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`, [
      m.id,
      hostId,
      m.flavor.vcpus,
      m.flavor.ramMb,
      m.flavor.diskGb,
    ]);
    const live = await this.record(tx, m, hostId, timings);
    this.placement.hosts.patch(hostId, usage);
    this.logger.log(`live migration ${m.id} of server ${m.serverId}: forced destination ${hostId} claimed (filters skipped)`);
    return { hostId, live };
  }

  /** The server row, locked; Gone unless it is still migrating from the source. */
  private async lockServer(tx: EntityManager, m: LiveMigrationRecord): Promise<void> {
    const server = await tx.query(
      `SELECT 1 FROM compute.servers WHERE id = $1 AND task_state = $2 AND host_id = $3 AND deleted_at IS NULL FOR UPDATE`,
      [m.serverId, TaskState.Migrating, m.sourceHost],
    );
    if (server.length === 0) throw new Gone();
  }

  /** queued -> preparing with the destination, unless an admin asked for an abort meanwhile (Gone: the claim rolls back). */
  private async record(tx: EntityManager, m: LiveMigrationRecord, hostId: string, timings?: Record<string, number>): Promise<LiveMigrationState> {
    const live: LiveMigrationState = { ...m.live, step: 'claimed', timings: { ...timings, ...m.live.timings, claimed: sinceCreated(m) } };
    if (!(await setLiveMigration(tx, m.id, ['queued'], 'preparing', { destHost: hostId, live, unlessAborted: true }))) throw new Gone();
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

  private decide(hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest): HostCandidate {
    const { ranked, explanation } = schedule(hosts, request, this.pipeline, { limit: 1 });
    if (!ranked[0]) throw new NoValidHostError(explanation.noValidHost ?? 'There are not enough hosts available.');
    return ranked[0];
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
    const freed = await freeAllocations(tx, `consumer_id = $1`, [m.serverId]);
    await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1`, [m.id, m.serverId]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
    return true;
  }

  /** A failed or aborted migration: the destination's claim goes. Idempotent. */
  async release(tx: EntityManager, m: LiveMigrationRecord): Promise<void> {
    const freed = await freeAllocations(tx, `consumer_id = $1`, [m.id]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
  }

  /** The server's group (locked) and where its other members are (two statements: see PlacementService.lockGroup). */
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
