/**
 * Claims host capacity for a consumer without races: the chosen host's generation is bumped with
 * a compare-and-set in the same transaction that writes the allocation, so two schedulers that
 * read the same free capacity cannot both claim it; the loser retries on fresh data.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HostState, NoValidHostError, TaskState } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { GroupPlacement, HostUsage, ResourceRequest, rankHosts } from './host-ranking';
import { readHostUsage } from './host-usage-query';

const MAX_CLAIM_ATTEMPTS = 50;

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
        const group = await this.groupPolicy(tx, serverId);
        const hosts = await this.hostUsage(tx);
        const { ranked, rejected } = rankHosts(hosts, request, group);
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
      // Lost a race for the same host: back off a little, with jitter, so the racers spread out.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));
    }
    // Contention is not "no host": a plain error makes the job retry later instead of failing the server.
    throw new Error(`claim for ${serverId} lost ${MAX_CLAIM_ATTEMPTS} races in a row`);
  }

  /**
   * The server's group policy and where its other members run. The group row is locked, so the
   * placements of one group's members are serialized and two of them can never both pick a host
   * that each alone would have been allowed (the race Nova documents).
   */
  private async groupPolicy(tx: EntityManager, serverId: string): Promise<GroupPlacement | undefined> {
    const [group]: Array<{ id: string; policy: GroupPlacement['policy'] }> = await tx.query(
      `SELECT g.id, g.policy FROM compute.server_group_members m JOIN compute.server_groups g ON g.id = m.group_id
        WHERE m.server_id = $1 FOR UPDATE OF g`,
      [serverId],
    );
    if (!group) return undefined;
    const rows: Array<{ host_id: string }> = await tx.query(
      `SELECT DISTINCT s.host_id FROM compute.server_group_members m JOIN compute.servers s ON s.id = m.server_id
        WHERE m.group_id = $1 AND s.id <> $2 AND s.host_id IS NOT NULL AND s.deleted_at IS NULL`,
      [group.id, serverId],
    );
    return { policy: group.policy, memberHosts: rows.map((r) => r.host_id) };
  }

  /**
   * Frees everything a consumer holds, and what its migration records hold (a server deleted in
   * VERIFY_RESIZE still has its old flavor held by the resize's migration). Idempotent.
   */
  async release(tx: EntityManager, consumerId: string): Promise<void> {
    await tx.query(
      `DELETE FROM compute.allocations
        WHERE consumer_id = $1 OR consumer_id IN (SELECT id FROM compute.migrations WHERE server_id = $1)`,
      [consumerId],
    );
  }

  private hostUsage(tx: EntityManager): Promise<HostUsage[]> {
    return readHostUsage(tx, HostState.Up);
  }
}
