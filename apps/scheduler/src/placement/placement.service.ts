/**
 * Claims host capacity for a consumer without races: the chosen host's generation is bumped with
 * a compare-and-set in the same transaction that writes the allocation, so two schedulers that
 * read the same free capacity cannot both claim it; the loser retries on fresh data.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HostState, NoValidHostError, TaskState } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { HostUsage, ResourceRequest, rankHosts } from './host-ranking';

const MAX_CLAIM_ATTEMPTS = 20;

@Injectable()
export class PlacementService {
  private readonly logger = new Logger(PlacementService.name);

  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /**
   * Places a server that is in task state `scheduling`: allocation + host + task state
   * `spawning`, in one transaction. Returns null when the server left `scheduling` meanwhile.
   */
  async claimForServer(serverId: string, request: ResourceRequest): Promise<string | null> {
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      const outcome = await this.db.transaction(async (tx) => {
        const hosts = await this.hostUsage(tx);
        const { ranked, rejected } = rankHosts(hosts, request);
        if (ranked.length === 0) {
          const why = hosts.length === 0 ? 'There are no hosts up.' : `Rejected: ${JSON.stringify(rejected)}`;
          throw new NoValidHostError(why);
        }
        const chosen = ranked[0];
        const bumped = await tx.query(
          `UPDATE compute.hosts SET generation = generation + 1 WHERE id = $1 AND generation = $2 AND state = $3`,
          [chosen.id, chosen.generation, HostState.Up],
        );
        if (bumped[1] !== 1) return 'retry' as const;
        const moved = await tx.query(
          `UPDATE compute.servers SET host_id = $2, task_state = $3, updated_at = now()
            WHERE id = $1 AND task_state = $4 AND deleted_at IS NULL`,
          [serverId, chosen.id, TaskState.Spawning, TaskState.Scheduling],
        );
        if (moved[1] !== 1) return 'gone' as const;
        await tx.query(
          `INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`,
          [serverId, chosen.id, request.vcpus, request.ramMb, request.diskGb],
        );
        this.logger.debug(`server ${serverId} -> host ${chosen.id} (free RAM ${chosen.freeRamMb} MB; rejected ${JSON.stringify(rejected)})`);
        return chosen.id;
      });
      if (outcome === 'gone') return null;
      if (outcome !== 'retry') return outcome;
    }
    throw new NoValidHostError('Too much contention on host claims; try again.');
  }

  /** Frees everything a consumer holds. Idempotent. */
  async release(tx: EntityManager, consumerId: string): Promise<void> {
    await tx.query(`DELETE FROM compute.allocations WHERE consumer_id = $1`, [consumerId]);
  }

  private async hostUsage(tx: EntityManager): Promise<HostUsage[]> {
    const rows: Array<Record<string, string | number>> = await tx.query(
      `SELECT h.id, h.generation, h.vcpus, h.ram_mb, h.disk_gb, h.cpu_allocation_ratio, h.ram_allocation_ratio,
              h.disk_allocation_ratio, COALESCE(SUM(a.vcpus), 0) AS used_vcpus,
              COALESCE(SUM(a.ram_mb), 0) AS used_ram_mb, COALESCE(SUM(a.disk_gb), 0) AS used_disk_gb
         FROM compute.hosts h LEFT JOIN compute.allocations a ON a.host_id = h.id
        WHERE h.state = $1 GROUP BY h.id`,
      [HostState.Up],
    );
    return rows.map((r) => ({
      id: String(r.id),
      generation: String(r.generation),
      vcpus: Number(r.vcpus),
      ramMb: Number(r.ram_mb),
      diskGb: Number(r.disk_gb),
      cpuAllocationRatio: Number(r.cpu_allocation_ratio),
      ramAllocationRatio: Number(r.ram_allocation_ratio),
      diskAllocationRatio: Number(r.disk_allocation_ratio),
      usedVcpus: Number(r.used_vcpus),
      usedRamMb: Number(r.used_ram_mb),
      usedDiskGb: Number(r.used_disk_gb),
    }));
  }
}
