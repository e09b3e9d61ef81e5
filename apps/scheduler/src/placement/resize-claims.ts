/**
 * Placement of a cold resize on the server's own host (Nova's same-host resize). From the claim
 * until confirm or revert the host holds both flavors, as Nova's placement does: the server (its
 * consumer) holds the new flavor and the migration record (consumer = migration id) the old one.
 * Confirm frees the old one, revert frees the new one and gives the old one back to the server.
 *
 * The claim bumps the host's generation with a compare-and-set in the transaction that writes the
 * allocations, like PlacementService.claimForServer: two claims that read the same free capacity
 * cannot both take it; the loser retries on fresh rows.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HostState, NoValidHostError, TaskState } from '@nubo/contracts';
import { MigrationRecord, setMigrationStatus } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';
import { HostUsage, freeOf } from './host-ranking';
import { readHostUsage } from './host-usage-query';

const MAX_CLAIM_ATTEMPTS = 50;

/** Nova's fault when the scheduler finds no host for a resize. */
export const RESIZE_NO_VALID_HOST = 'There are not enough hosts available.';

/** A host's inventory and use, as placement reads it (without its id). */
export type HostCapacity = Omit<HostUsage, 'id'>;

/** Why `host` cannot take `request` beside what it holds (pure), or undefined when it can. */
export function resizeFitProblem(host: HostCapacity, request: { vcpus: number; ramMb: number; diskGb: number }): string | undefined {
  const free = freeOf(host);
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
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      try {
        const outcome = await this.db.transaction(async (tx) => {
          const host = await this.capacity(tx, m.destHost);
          const why = host ? resizeFitProblem(host, m.newFlavor) : `host ${m.destHost} is not up`;
          if (why || !host) {
            this.logger.log(`resize of server ${m.serverId} on ${m.destHost} refused: ${why}`);
            throw new NoValidHostError(RESIZE_NO_VALID_HOST);
          }
          const bumped = await tx.query(`UPDATE compute.hosts SET generation = generation + 1 WHERE id = $1 AND generation = $2 AND state = $3`, [
            m.destHost,
            host.generation,
            HostState.Up,
          ]);
          if (bumped[1] !== 1) return 'retry' as const;
          if (!(await setMigrationStatus(tx, m.id, ['pre-migrating'], 'migrating'))) throw new Gone();
          const moved = await tx.query(
            `UPDATE compute.servers SET task_state = $2, updated_at = now()
              WHERE id = $1 AND task_state = $3 AND host_id = $4 AND deleted_at IS NULL`,
            [m.serverId, TaskState.ResizeMigrating, TaskState.ResizePrep, m.destHost],
          );
          if (moved[1] !== 1) throw new Gone();
          await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1 AND host_id = $3`, [m.serverId, m.id, m.sourceHost]);
          await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, $3, $4, $5)`, [
            m.serverId,
            m.destHost,
            m.newFlavor.vcpus,
            m.newFlavor.ramMb,
            m.newFlavor.diskGb,
          ]);
          return 'claimed' as const;
        });
        if (outcome === 'claimed') return outcome;
      } catch (error) {
        if (error instanceof Gone) return 'gone';
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));
    }
    throw new Error(`resize claim for ${m.serverId} lost ${MAX_CLAIM_ATTEMPTS} races in a row`);
  }

  /** Confirm: the old flavor's allocation (the migration's) goes. Idempotent. */
  async confirm(tx: EntityManager, m: MigrationRecord): Promise<void> {
    await tx.query(`DELETE FROM compute.allocations WHERE consumer_id = $1`, [m.id]);
  }

  /**
   * Revert (or the undo of a failed resize): the new flavor's allocation goes and the old one is
   * the server's again. Idempotent: once the migration holds nothing, nothing changes.
   */
  async revert(tx: EntityManager, m: MigrationRecord): Promise<void> {
    const held: unknown[] = await tx.query(`SELECT 1 FROM compute.allocations WHERE consumer_id = $1 FOR UPDATE`, [m.id]);
    if (held.length === 0) return;
    await tx.query(`DELETE FROM compute.allocations WHERE consumer_id = $1`, [m.serverId]);
    await tx.query(`UPDATE compute.allocations SET consumer_id = $2 WHERE consumer_id = $1`, [m.id, m.serverId]);
  }

  /** The host's capacity and what its consumers hold; undefined unless it is up. */
  private async capacity(tx: EntityManager, hostId: string): Promise<HostCapacity | undefined> {
    const [host] = await readHostUsage(tx, HostState.Up, 'AND h.id = $2', [hostId]);
    return host;
  }

}
