/**
 * Placement of a cold resize on the server's own host (Nova's same-host resize). From the claim
 * until confirm or revert the host holds both flavors, as Nova's placement does: the server (its
 * consumer) holds the new flavor and the migration record (consumer = migration id) the old one.
 * Confirm frees the old one, revert frees the new one and gives the old one back to the server.
 *
 * The claim is the host's conditional UPDATE of its usage counters (host-usage.ts), in the
 * transaction that writes the allocations: capacity is checked on the row itself, so two claims
 * cannot both take the same free capacity, and there is nothing to retry. Every allocation
 * change here moves the host's counters with it.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HostState, NoValidHostError, TaskState } from '@nubo/contracts';
import { MigrationRecord, setMigrationStatus } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { claimOnHost, freeAllocations, lockHostsOf } from './host-usage';

/** Nova's fault when the scheduler finds no host for a resize. */
export const RESIZE_NO_VALID_HOST = 'There are not enough hosts available.';

export interface HostCapacity {
  generation: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
  usedVcpus: number;
  usedRamMb: number;
  usedDiskGb: number;
}

/** Why `host` cannot take `request` beside what it holds (pure), or undefined when it can. */
export function resizeFitProblem(host: HostCapacity, request: { vcpus: number; ramMb: number; diskGb: number }): string | undefined {
  const free = {
    vcpus: Math.floor(host.vcpus * host.cpuAllocationRatio) - host.usedVcpus,
    ramMb: Math.floor(host.ramMb * host.ramAllocationRatio) - host.usedRamMb,
    diskGb: Math.floor(host.diskGb * host.diskAllocationRatio) - host.usedDiskGb,
  };
  if (free.ramMb < request.ramMb) return `RAM: ${free.ramMb} MB free, ${request.ramMb} MB wanted`;
  if (free.vcpus < request.vcpus) return `VCPU: ${free.vcpus} free, ${request.vcpus} wanted`;
  if (free.diskGb < request.diskGb) return `DISK: ${free.diskGb} GB free, ${request.diskGb} GB wanted`;
  return undefined;
}

/** Thrown inside a claim transaction to roll it back when the server or migration moved on. */
class Gone extends Error {}

@Injectable()
export class ResizeClaims {
  private readonly logger = new Logger(ResizeClaims.name);

  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /**
   * Claims the new flavor on the migration's host beside the old one: the server's allocation
   * becomes the migration's, the server gets one of the new flavor, task state resize_prep ->
   * resize_migrating, migration pre-migrating -> migrating, all in one transaction. 'gone' when
   * the server or the migration left those states (deleted, or a replay of a done claim).
   * NoValidHostError when the host is down or full.
   */
  async claim(m: MigrationRecord): Promise<'claimed' | 'gone'> {
    try {
      return await this.db.transaction(async (tx) => {
        // The host row first, as every claim and release does (host-usage.ts: lock order).
        const usage = await claimOnHost(tx, m.destHost, m.newFlavor, 1);
        if (!usage) {
          // A replay of a claim already made finds its own flavors filling the host: that is 'gone', not NoValidHost.
          const [migration]: Array<{ status: string }> = await tx.query(`SELECT status FROM compute.migrations WHERE id = $1`, [m.id]);
          if (migration?.status !== 'pre-migrating') throw new Gone();
          const host = await this.capacity(tx, m.destHost);
          const why = host ? resizeFitProblem(host, m.newFlavor) ?? 'it changed meanwhile' : `host ${m.destHost} is not up`;
          this.logger.log(`resize of server ${m.serverId} on ${m.destHost} refused: ${why}`);
          throw new NoValidHostError(RESIZE_NO_VALID_HOST);
        }
        if (!(await setMigrationStatus(tx, m.id, ['pre-migrating'], 'migrating'))) throw new Gone();
        const moved = await tx.query(
          `UPDATE compute.servers SET task_state = $2, updated_at = now()
            WHERE id = $1 AND task_state = $3 AND host_id = $4 AND deleted_at IS NULL`,
          [m.serverId, TaskState.ResizeMigrating, TaskState.ResizePrep, m.destHost],
        );
        if (moved[1] !== 1) throw new Gone();
        // The old flavor's allocation becomes the migration's (the host's sums do not change) ...
        await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1 AND host_id = $3`, [m.serverId, m.id, m.sourceHost]);
        // ... and the server holds the new one, counted by claimOnHost above.
        await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`, [
          m.serverId,
          m.destHost,
          m.newFlavor.vcpus,
          m.newFlavor.ramMb,
          m.newFlavor.diskGb,
        ]);
        return 'claimed' as const;
      });
    } catch (error) {
      if (error instanceof Gone) return 'gone';
      throw error;
    }
  }

  /** Confirm: the old flavor's allocation (the migration's) goes. Idempotent. */
  async confirm(tx: EntityManager, m: MigrationRecord): Promise<void> {
    await freeAllocations(tx, `consumer_id = $1`, [m.id]);
  }

  /**
   * Revert (or the undo of a failed resize): the new flavor's allocation goes and the old one is
   * the server's again. Idempotent: once the migration holds nothing, nothing changes.
   */
  async revert(tx: EntityManager, m: MigrationRecord): Promise<void> {
    // Two reverts serialize on the host rows; the second one then finds nothing held (a new statement sees the first's commit).
    await lockHostsOf(tx, `consumer_id = $1 OR consumer_id = $2`, [m.id, m.serverId]);
    const held: unknown[] = await tx.query(`SELECT 1 FROM compute.allocations WHERE consumer_id = $1`, [m.id]);
    if (held.length === 0) return;
    await freeAllocations(tx, `consumer_id = $1`, [m.serverId]);
    // The old flavor goes back to the server: same host, same sums.
    await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1`, [m.id, m.serverId]);
  }

  /** The host's capacity (net of what it reserves) and what its consumers hold; undefined unless it is up. */
  private async capacity(tx: EntityManager, hostId: string): Promise<HostCapacity | undefined> {
    const [r]: Array<Record<string, string | number>> = await tx.query(
      `SELECT generation, vcpus - reserved_vcpus AS vcpus, ram_mb - reserved_ram_mb AS ram_mb, disk_gb - reserved_disk_gb AS disk_gb,
              cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, used_vcpus, used_ram_mb, used_disk_gb
         FROM compute.hosts WHERE id = $1 AND state = $2`,
      [hostId, HostState.Up],
    );
    if (!r) return undefined;
    return {
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
    };
  }
}
