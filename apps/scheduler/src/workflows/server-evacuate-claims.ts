/**
 * Placement of an evacuation: the new host is chosen by the same filters and weighers as a create
 * (zone, traits, image properties, capacity, server group policies, the N+1 reserve) with the
 * failed host excluded and an admin's requested host as the forced host; `force` (Nova 2.29)
 * skips the filters, only the requested host's capacity is claimed. The claim is held by the
 * evacuation record (consumer = its id) while the server keeps its claim on the failed host; the
 * move commits both in ONE transaction (the failed host's claim goes, the new one is the server's).
 * The choosing and claiming is MoveClaims' (move-claims.ts), shared with the migrations.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { TaskState } from '@nubo/contracts';
import { EvacuationRecord, EvacuationState, setEvacuation } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { PlacementService } from '../placement/placement.service';
import { DEFAULT_SCHEDULING, buildPipeline } from '../placement/scheduling-config';
import { ClaimGone, ClaimSteps, MoveClaims } from './move-claims';
import { PlacementInput } from './placement-input';

@Injectable()
export class EvacuateClaims {
  private readonly claims: MoveClaims;

  constructor(
    @Inject(DataSource) db: DataSource,
    @Inject(PlacementService) placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) config: Partial<SchedulerConfig>,
  ) {
    this.claims = new MoveClaims(db, placement, buildPipeline({ ...DEFAULT_SCHEDULING, ...config }), new Logger(EvacuateClaims.name));
  }

  /**
   * Chooses the new host and claims it; the record goes accepted -> pre-migrating with its
   * dest_host, in the same transaction. 'gone' when the server or the record moved on.
   * NoValidHostError names the filter that left no host (or why a forced host cannot take it).
   */
  async claim(e: EvacuationRecord, input: PlacementInput): Promise<{ hostId: string } | 'gone'> {
    const c = { serverId: e.serverId, consumerId: e.id, flavor: e.flavor };
    const steps: ClaimSteps<void> = { lockServer: (tx) => this.lockServer(tx, e), record: (tx, hostId) => this.record(tx, e, hostId) };
    const claimed = await this.claims.transaction(`the new host's claim of evacuation ${e.id}`, (tx) =>
      e.state.force && e.requestedHost
        ? this.claims.forced(tx, c, e.requestedHost, steps, () => this.whyNot(tx, e.requestedHost!, e))
        : this.claims.chosen(tx, c, { serverId: e.serverId, ...input, forcedHost: e.requestedHost, excludedHosts: [e.sourceHost] }, steps),
    );
    return claimed === 'gone' ? 'gone' : { hostId: claimed.hostId };
  }

  /** accepted -> pre-migrating with the new host. */
  private async record(tx: EntityManager, e: EvacuationRecord, hostId: string): Promise<void> {
    const state: EvacuationState = { ...e.state, step: 'claimed' };
    if (!(await setEvacuation(tx, e.id, ['accepted'], 'pre-migrating', { destHost: hostId, state }))) throw new ClaimGone();
  }

  /** The server row, locked; ClaimGone unless it is still being evacuated from the failed host. */
  private async lockServer(tx: EntityManager, e: EvacuationRecord): Promise<void> {
    const rows = await tx.query(
      `SELECT 1 FROM compute.servers WHERE id = $1 AND task_state = $2 AND host_id = $3 AND deleted_at IS NULL FOR UPDATE`,
      [e.serverId, TaskState.Rebuilding, e.sourceHost],
    );
    if (rows.length === 0) throw new ClaimGone();
  }

  private async whyNot(tx: EntityManager, hostId: string, e: EvacuationRecord): Promise<string> {
    const [host]: Array<{ state: string }> = await tx.query(`SELECT state FROM compute.hosts WHERE id = $1`, [hostId]);
    if (!host) return `Compute host ${hostId} not found.`;
    if (host.state !== 'up') return `Compute service of ${hostId} is unavailable at this time (${host.state}).`;
    const f = e.flavor;
    return `No valid host was found. Host ${hostId} has not enough free vCPU, RAM or disk for ${f.vcpus} vCPU, ${f.ramMb} MB RAM, ${f.diskGb} GB disk.`;
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
    await this.claims.handOver(tx, { serverId: e.serverId, consumerId: e.id });
    return true;
  }

  /** A failed evacuation: the new host's claim goes. Idempotent. */
  release(tx: EntityManager, e: EvacuationRecord): Promise<void> {
    return this.claims.release(tx, e.id);
  }
}
