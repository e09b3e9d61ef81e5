/**
 * The destination claim of a move (live migration, cold migration, evacuation): chosen by the same
 * filters and weighers as a create (zone, traits, image properties, capacity, server group
 * policies, the N+1 reserve) with the source excluded, or a forced host taken as given (only its
 * capacity claimed). The claim is held by the move's record (consumer = its id) while the server
 * keeps its source claim, until the move hands it over. Each workflow keeps what differs: which
 * task state the server must be in, how its record steps, its messages.
 *
 * Lock order as every placement writer: the group row, the server row, then host rows.
 */
import { Logger } from '@nestjs/common';
import { NoValidHostError } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { FAILOVER_RESERVE_KEY } from '../placement/filters/failover-reserve.host-filter';
import { claimOnHost, freeAllocations } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { HostCandidate, PlacementRequest } from '../placement/placement-types';
import { Pipeline, schedule } from '../placement/scheduling-pipeline';

/** Thrown inside a claim transaction when the server or the record moved on: it rolls back, the caller gets 'gone'. */
export class ClaimGone extends Error {}
/** Lost a race on a host's usage or on the placement metadata: the transaction rolls back and runs again. */
class Retry extends Error {}

const ATTEMPTS = 10;

export interface MoveClaim {
  serverId: string;
  /** The claim's consumer: the move's record id. */
  consumerId: string;
  flavor: { vcpus: number; ramMb: number; diskGb: number };
}

export interface ClaimSteps<R> {
  /** Locks the server row; throws ClaimGone unless the move still applies (runs after the group lock). */
  lockServer(tx: EntityManager): Promise<void>;
  /** Writes the record's next step with the destination, in the same transaction (ClaimGone: roll back). */
  record(tx: EntityManager, hostId: string): Promise<R>;
}

export class MoveClaims {
  constructor(
    private readonly db: DataSource,
    private readonly placement: PlacementService,
    private readonly pipeline: Pipeline,
    private readonly logger: Logger,
  ) {}

  /** Runs `attempt` in a transaction until it wins its races; 'gone' on ClaimGone. */
  async transaction<T>(what: string, attempt: (tx: EntityManager) => Promise<T>): Promise<T | 'gone'> {
    for (let i = 1; i <= ATTEMPTS; i++) {
      try {
        return await this.db.transaction(attempt);
      } catch (error) {
        if (error instanceof ClaimGone) return 'gone';
        if (!(error instanceof Retry)) throw error;
      }
    }
    throw new Error(`${what} lost ${ATTEMPTS} races in a row`);
  }

  /**
   * Chooses a destination for `request` (the server's group added) and claims it for the record.
   * NoValidHostError names the filter that left no host.
   */
  async chosen<R>(tx: EntityManager, c: MoveClaim, request: Omit<PlacementRequest, 'group'>, steps: ClaimSteps<R>): Promise<{ hostId: string; recorded: R }> {
    const group = await this.lockGroup(tx, c.serverId);
    await steps.lockServer(tx);
    const full: PlacementRequest = { ...request, ...(group ? { group } : {}) };
    let hosts = await this.placement.hosts.get({ fresh: true });
    let chosen = this.decide(hosts, full);
    const reserves = chosen.aggregates.filter((a) => a.metadata[FAILOVER_RESERVE_KEY] === 'true').map((a) => a.id).sort();
    if (reserves.length) {
      // The N+1 reserve is a rule over the aggregate: decided again on numbers read after its lock.
      for (const id of reserves) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nubo-failover-reserve:${id}`]);
      hosts = await this.placement.hosts.get({ fresh: true });
      chosen = this.decide(hosts, full);
    }
    const usage = await claimOnHost(tx, chosen.id, c.flavor, 1);
    if (!usage) throw new Retry();
    const [meta]: Array<{ version: string }> = await tx.query(`SELECT version::text AS version FROM compute.placement_metadata WHERE id = 1`);
    if (meta && meta.version !== this.placement.hosts.metadataVersion(hosts)) throw new Retry();
    const recorded = await this.allocate(tx, c, chosen.id, steps);
    this.placement.hosts.patch(chosen.id, usage);
    return { hostId: chosen.id, recorded };
  }

  /** Forced: no filter, no weigher; the host's capacity is claimed. `whyNot` says why it cannot take the server. */
  async forced<R>(tx: EntityManager, c: MoveClaim, hostId: string, steps: ClaimSteps<R>, whyNot: () => Promise<string>): Promise<{ hostId: string; recorded: R }> {
    await steps.lockServer(tx);
    const usage = await claimOnHost(tx, hostId, c.flavor, 1);
    if (!usage) throw new NoValidHostError(await whyNot());
    const recorded = await this.allocate(tx, c, hostId, steps);
    this.placement.hosts.patch(hostId, usage);
    return { hostId, recorded };
  }

  /** After the server's row moved: its source claim goes and the record's claim becomes the server's. */
  async handOver(tx: EntityManager, c: Pick<MoveClaim, 'serverId' | 'consumerId'>): Promise<void> {
    const freed = await freeAllocations(tx, `consumer_id = $1`, [c.serverId]);
    await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1`, [c.consumerId, c.serverId]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
  }

  /** A failed or aborted move: the record's claim goes. Idempotent. */
  async release(tx: EntityManager, consumerId: string): Promise<void> {
    const freed = await freeAllocations(tx, `consumer_id = $1`, [consumerId]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
  }

  private async allocate<R>(tx: EntityManager, c: MoveClaim, hostId: string, steps: ClaimSteps<R>): Promise<R> {
    await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`, [
      c.consumerId,
      hostId,
      c.flavor.vcpus,
      c.flavor.ramMb,
      c.flavor.diskGb,
    ]);
    const recorded = await steps.record(tx, hostId);
    this.logger.log(`${c.consumerId} (server ${c.serverId}): ${hostId} claimed`);
    return recorded;
  }

  private decide(hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest): HostCandidate {
    const { ranked, explanation } = schedule(hosts, request, this.pipeline, { limit: 1 });
    if (!ranked[0]) throw new NoValidHostError(explanation.noValidHost ?? 'There are not enough hosts available.');
    return ranked[0];
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
