/**
 * Project quotas. Every check runs inside the caller's transaction after taking a transaction-scoped
 * advisory lock on the project (or user), so two concurrent creates of one project cannot both see
 * room for the last slot: the second waits, then counts the first one's committed row.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InternalError, QuotaExceededError } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import {
  QuotaCheck,
  QuotaLimits,
  QuotaResource,
  QuotaUpdate,
  checkNotBelowUsage,
  firstOver,
  quotaExceededMessage,
  resolveLimits,
} from './quota-limits';

type Db = Pick<EntityManager, 'query'>;

export interface ServerUsage {
  instances: number;
  cores: number;
  ramMb: number;
}

@Injectable()
export class QuotaService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /** Serializes quota checks of one scope ('project:<id>', 'user:<id>') until the transaction ends. */
  async lock(tx: EntityManager, scope: string): Promise<void> {
    if (!tx.queryRunner?.isTransactionActive) {
      // Outside a transaction the lock would be released at once and protect nothing.
      throw new InternalError('quota checks must run inside a transaction');
    }
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('nubo-quota'), hashtext($1))`, [scope]);
  }

  async limits(db: Db, projectId: string): Promise<QuotaLimits> {
    const rows = await db.query(`SELECT resource, hard_limit FROM compute.quota_limits WHERE project_id = $1`, [projectId]);
    return resolveLimits(rows);
  }

  /** What the project's live servers hold (a server counts until its row is marked deleted). */
  async serverUsage(db: Db, projectId: string): Promise<ServerUsage> {
    const [row] = await db.query(
      `SELECT count(*)::int AS instances, COALESCE(SUM((flavor->>'vcpus')::int), 0)::int AS cores,
              COALESCE(SUM((flavor->>'ramMb')::int), 0)::int AS ram
         FROM compute.servers WHERE project_id = $1 AND deleted_at IS NULL`,
      [projectId],
    );
    return { instances: row.instances, cores: row.cores, ramMb: row.ram };
  }

  /** Usage as Nova reports it; key pairs are counted for the given user, as Nova does. */
  async usage(db: Db, projectId: string, userId: string): Promise<Partial<QuotaLimits>> {
    const servers = await this.serverUsage(db, projectId);
    const [{ groups }] = await db.query(`SELECT count(*)::int AS groups FROM compute.server_groups WHERE project_id = $1`, [projectId]);
    const [{ keys }] = await db.query(`SELECT count(*)::int AS keys FROM compute.key_pairs WHERE user_id = $1`, [userId]);
    return { instances: servers.instances, cores: servers.cores, ram: servers.ramMb, server_groups: groups, key_pairs: keys };
  }

  /**
   * For server create, inside the caller's transaction: locks the project, counts its servers and
   * throws QuotaExceededError (403) naming the first resource over its limit.
   */
  async checkServerCreate(tx: EntityManager, projectId: string, want: { instances: number; cores: number; ramMb: number }): Promise<void> {
    await this.lock(tx, `project:${projectId}`);
    const limits = await this.limits(tx, projectId);
    const used = await this.serverUsage(tx, projectId);
    const over = firstOver([
      { resource: 'instances', requested: want.instances, used: used.instances, allowed: limits.instances },
      { resource: 'cores', requested: want.cores, used: used.cores, allowed: limits.cores },
      { resource: 'ram', requested: want.ramMb, used: used.ramMb, allowed: limits.ram },
    ]);
    if (over) throw new QuotaExceededError(quotaExceededMessage(over), { ...over });
  }

  /**
   * One more of a counted resource (key pairs, server groups, group members): the caller holds the
   * lock for the scope it counted in, and gives Nova's message for that resource.
   */
  async checkCount(tx: EntityManager, o: { projectId: string; resource: QuotaResource; used: number; message: string }): Promise<void> {
    const allowed = (await this.limits(tx, o.projectId))[o.resource];
    const check: QuotaCheck = { resource: o.resource, requested: 1, used: o.used, allowed };
    if (firstOver([check])) throw new QuotaExceededError(o.message, { ...check });
  }

  /** Sets some limits (admin); refuses a limit below current usage unless forced. */
  async update(projectId: string, update: QuotaUpdate, callerUserId: string): Promise<QuotaLimits> {
    return this.db.transaction(async (tx) => {
      await this.lock(tx, `project:${projectId}`);
      if (!update.force) {
        const { key_pairs: _perUser, ...inUse } = await this.usage(tx, projectId, callerUserId);
        checkNotBelowUsage(update.values, inUse);
      }
      for (const [resource, limit] of Object.entries(update.values)) {
        await tx.query(
          `INSERT INTO compute.quota_limits (project_id, resource, hard_limit) VALUES ($1, $2, $3)
           ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = $3, updated_at = now()`,
          [projectId, resource, limit],
        );
      }
      return this.limits(tx, projectId);
    });
  }

  /** Back to the defaults. */
  async reset(projectId: string): Promise<void> {
    await this.db.query(`DELETE FROM compute.quota_limits WHERE project_id = $1`, [projectId]);
  }
}
