/**
 * Placement of an evacuation: the new host is chosen by the same filters and weighers as a create
 * (zone, traits, image properties, capacity, server group policies, the N+1 reserve) with the
 * failed host excluded and an admin's requested host as the forced host; `force` (Nova 2.29)
 * skips the filters, only the requested host's capacity is claimed. The claim is held by the
 * evacuation record (consumer = its id) while the server keeps its claim on the failed host; the
 * move commits both in ONE transaction (the failed host's claim goes, the new one is the server's).
 *
 * Lock order as every placement writer: the group row, the server row, then host rows.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NoValidHostError, TaskState } from '@nubo/contracts';
import { EvacuationRecord, EvacuationState, setEvacuation } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { FAILOVER_RESERVE_KEY } from '../placement/filters/failover-reserve.host-filter';
import { claimOnHost, freeAllocations } from '../placement/host-usage';
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
export class EvacuateClaims {
  private readonly logger = new Logger(EvacuateClaims.name);
  private readonly pipeline: Pipeline;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) config: Partial<SchedulerConfig>,
  ) {
    this.pipeline = buildPipeline({ ...DEFAULT_SCHEDULING, ...config });
  }

  /**
   * Chooses the new host and claims it; the record goes accepted -> pre-migrating with its
   * dest_host, in the same transaction. 'gone' when the server or the record moved on.
   * NoValidHostError names the filter that left no host (or why a forced host cannot take it).
   */
  async claim(e: EvacuationRecord, input: PlacementInput): Promise<{ hostId: string } | 'gone'> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        return await this.db.transaction((tx) => (e.state.force && e.requestedHost ? this.claimForced(tx, e, e.requestedHost) : this.tryClaim(tx, e, input)));
      } catch (error) {
        if (error instanceof Gone) return 'gone';
        if (!(error instanceof Retry)) throw error;
      }
    }
    throw new Error(`the new host's claim of evacuation ${e.id} lost ${ATTEMPTS} races in a row`);
  }

  private async tryClaim(tx: EntityManager, e: EvacuationRecord, input: PlacementInput): Promise<{ hostId: string }> {
    const group = await this.lockGroup(tx, e.serverId);
    await this.lockServer(tx, e);
    const request: PlacementRequest = {
      serverId: e.serverId,
      ...input,
      forcedHost: e.requestedHost,
      excludedHosts: [e.sourceHost],
      ...(group ? { group } : {}),
    };
    let hosts = await this.placement.hosts.get({ fresh: true });
    let chosen = this.decide(hosts, request);
    const reserves = chosen.aggregates.filter((a) => a.metadata[FAILOVER_RESERVE_KEY] === 'true').map((a) => a.id).sort();
    if (reserves.length) {
      for (const id of reserves) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nubo-failover-reserve:${id}`]);
      hosts = await this.placement.hosts.get({ fresh: true });
      chosen = this.decide(hosts, request);
    }
    const usage = await claimOnHost(tx, chosen.id, e.flavor, 1);
    if (!usage) throw new Retry();
    const [meta]: Array<{ version: string }> = await tx.query(`SELECT version::text AS version FROM compute.placement_metadata WHERE id = 1`);
    if (meta && meta.version !== this.placement.hosts.metadataVersion(hosts)) throw new Retry();
    await this.allocate(tx, e, chosen.id);
    this.placement.hosts.patch(chosen.id, usage);
    this.logger.log(`evacuation ${e.id} of server ${e.serverId} from ${e.sourceHost}: ${chosen.id} claimed`);
    return { hostId: chosen.id };
  }

  /** Forced: no filter, no weigher; the requested host's capacity is claimed (it must be up and fit). */
  private async claimForced(tx: EntityManager, e: EvacuationRecord, hostId: string): Promise<{ hostId: string }> {
    await this.lockServer(tx, e);
    const usage = await claimOnHost(tx, hostId, e.flavor, 1);
    if (!usage) throw new NoValidHostError(await this.whyNot(tx, hostId, e));
    await this.allocate(tx, e, hostId);
    this.placement.hosts.patch(hostId, usage);
    this.logger.log(`evacuation ${e.id} of server ${e.serverId}: forced host ${hostId} claimed (filters skipped)`);
    return { hostId };
  }

  private async allocate(tx: EntityManager, e: EvacuationRecord, hostId: string): Promise<void> {
    await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`, [
      e.id,
      hostId,
      e.flavor.vcpus,
      e.flavor.ramMb,
      e.flavor.diskGb,
    ]);
    const state: EvacuationState = { ...e.state, step: 'claimed' };
    if (!(await setEvacuation(tx, e.id, ['accepted'], 'pre-migrating', { destHost: hostId, state }))) throw new Gone();
  }

  /** The server row, locked; Gone unless it is still being evacuated from the failed host. */
  private async lockServer(tx: EntityManager, e: EvacuationRecord): Promise<void> {
    const rows = await tx.query(
      `SELECT 1 FROM compute.servers WHERE id = $1 AND task_state = $2 AND host_id = $3 AND deleted_at IS NULL FOR UPDATE`,
      [e.serverId, TaskState.Rebuilding, e.sourceHost],
    );
    if (rows.length === 0) throw new Gone();
  }

  private async whyNot(tx: EntityManager, hostId: string, e: EvacuationRecord): Promise<string> {
    const [host]: Array<{ state: string }> = await tx.query(`SELECT state FROM compute.hosts WHERE id = $1`, [hostId]);
    if (!host) return `Compute host ${hostId} not found.`;
    if (host.state !== 'up') return `Compute service of ${hostId} is unavailable at this time (${host.state}).`;
    const f = e.flavor;
    return `No valid host was found. Host ${hostId} has not enough free vCPU, RAM or disk for ${f.vcpus} vCPU, ${f.ramMb} MB RAM, ${f.diskGb} GB disk.`;
  }

  private decide(hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest): HostCandidate {
    const { ranked, explanation } = schedule(hosts, request, this.pipeline, { limit: 1 });
    if (!ranked[0]) throw new NoValidHostError(explanation.noValidHost ?? 'There are not enough hosts available.');
    return ranked[0];
  }

  /**
   * The move, in the caller's transaction: the server on the new host, its failed host's claim
   * gone, the record's claim the server's. False (nothing changed) unless the server is still
   * being evacuated from the failed host.
   */
  async commitMove(tx: EntityManager, e: EvacuationRecord & { destHost: string }, set: { vmState: string; powerState: string }): Promise<boolean> {
    const moved = await tx.query(
      `UPDATE compute.servers SET host_id = $3, task_state = NULL, vm_state = $5, power_state = $6, fault = NULL, updated_at = now()
        WHERE id = $1 AND host_id = $2 AND task_state = $4 AND deleted_at IS NULL`,
      [e.serverId, e.sourceHost, e.destHost, TaskState.Rebuilding, set.vmState, set.powerState],
    );
    if (moved[1] !== 1) return false;
    const freed = await freeAllocations(tx, `consumer_id = $1`, [e.serverId]);
    await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1`, [e.id, e.serverId]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
    return true;
  }

  /** A failed evacuation: the new host's claim goes. Idempotent. */
  async release(tx: EntityManager, e: EvacuationRecord): Promise<void> {
    const freed = await freeAllocations(tx, `consumer_id = $1`, [e.id]);
    for (const host of freed) this.placement.hosts.patch(host.id, host);
  }

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
