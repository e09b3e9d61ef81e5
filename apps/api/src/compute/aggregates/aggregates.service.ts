/**
 * Host aggregates (Nova's os-aggregates). Every change runs in a transaction holding one advisory
 * lock for all aggregates, so the zone rules (a host in at most one zone) read a stable picture;
 * admins change aggregates rarely, so serialising them costs nothing.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, NotFoundError, ValidationError } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AggregateAction, CreateAggregateRequest, UpdateAggregateRequest, parseAggregateId } from './aggregate-request';
import { AggregateRecord } from './aggregate-view';
import { hostAddRefusal, hostRemoveRefusal, zoneChangeRefusal } from './aggregate-zone-rules';

type Db = Pick<EntityManager, 'query'>;

const LOCK = 'nubo-aggregates';

async function loadAggregates(db: Db, id?: number): Promise<AggregateRecord[]> {
  const rows: Array<Record<string, any>> = await db.query(
    `SELECT a.id, a.uuid, a.name, a.availability_zone, a.metadata, a.created_at, a.updated_at, a.deleted_at,
            COALESCE(array_agg(ah.host_id ORDER BY ah.created_at, ah.host_id) FILTER (WHERE ah.host_id IS NOT NULL), '{}') AS hosts
       FROM compute.aggregates a LEFT JOIN compute.aggregate_hosts ah ON ah.aggregate_id = a.id
      WHERE a.deleted_at IS NULL ${id === undefined ? '' : 'AND a.id = $1'}
      GROUP BY a.id ORDER BY a.id`,
    id === undefined ? [] : [id],
  );
  return rows.map((r) => ({
    id: r.id,
    uuid: r.uuid,
    name: r.name,
    availabilityZone: r.availability_zone,
    metadata: r.metadata ?? {},
    hosts: r.hosts,
    createdAt: new Date(r.created_at),
    updatedAt: r.updated_at ? new Date(r.updated_at) : null,
    deletedAt: r.deleted_at ? new Date(r.deleted_at) : null,
  }));
}

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';

@Injectable()
export class AggregatesService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  list(): Promise<AggregateRecord[]> {
    return loadAggregates(this.db);
  }

  async get(id: string, db: Db = this.db): Promise<AggregateRecord> {
    const [aggregate] = await loadAggregates(db, parseAggregateId(id));
    if (!aggregate) throw new NotFoundError(`Aggregate ${id} could not be found.`);
    return aggregate;
  }

  async create(request: CreateAggregateRequest): Promise<AggregateRecord> {
    return this.locked(async (tx) => {
      const rows: Array<{ id: number }> = await tx
        .query(`INSERT INTO compute.aggregates (uuid, name, availability_zone) VALUES ($1, $2, $3) RETURNING id`, [
          randomUUID(),
          request.name,
          request.availabilityZone,
        ])
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? new ConflictError(`Aggregate ${request.name} already exists.`) : error;
        });
      return this.get(String(rows[0].id), tx);
    });
  }

  /** PUT: name and/or zone. Nova refuses to clear a zone, and checks the zone against the hosts. */
  async update(id: string, request: UpdateAggregateRequest): Promise<AggregateRecord> {
    return this.locked(async (tx) => {
      const aggregate = await this.get(id, tx);
      const name = request.name ?? aggregate.name;
      const zone = request.availabilityZone === undefined ? aggregate.availabilityZone : request.availabilityZone;
      if (request.availabilityZone !== undefined) {
        const reason = await zoneChangeRefusal(tx, {
          aggregateId: aggregate.id, name, currentZone: aggregate.availabilityZone, zone, hosts: aggregate.hosts, checkServers: true,
        });
        if (reason) throw new ValidationError(`Cannot update aggregate ${aggregate.id}. Reason: ${reason}.`, 'availability_zone');
      }
      await tx
        .query(`UPDATE compute.aggregates SET name = $2, availability_zone = $3, updated_at = now() WHERE id = $1`, [aggregate.id, name, zone])
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? new ConflictError(`Aggregate ${name} already exists.`) : error;
        });
      return this.get(id, tx);
    });
  }

  /** Only an empty aggregate goes; it stays as a deleted row and frees its name. */
  async delete(id: string): Promise<void> {
    await this.locked(async (tx) => {
      const aggregate = await this.get(id, tx);
      if (aggregate.hosts.length) {
        throw new ValidationError(`Cannot remove host from aggregate ${aggregate.id}. Reason: Host aggregate is not empty.`);
      }
      await tx.query(`UPDATE compute.aggregates SET deleted_at = now() WHERE id = $1`, [aggregate.id]);
    });
  }

  async act(id: string, action: AggregateAction): Promise<AggregateRecord> {
    if (action.action === 'add_host') return this.addHost(id, action.host);
    if (action.action === 'remove_host') return this.removeHost(id, action.host);
    return this.setMetadata(id, action.metadata);
  }

  private async addHost(id: string, host: string): Promise<AggregateRecord> {
    return this.locked(async (tx) => {
      if (!(await this.hostExists(tx, host))) throw new NotFoundError(`Compute host ${host} could not be found.`);
      const aggregate = await this.get(id, tx);
      const zone = aggregate.availabilityZone;
      const reason =
        (zone !== null &&
          (await zoneChangeRefusal(tx, {
            aggregateId: aggregate.id, name: aggregate.name, currentZone: zone, zone, hosts: [host], checkServers: false,
          }))) ||
        (await hostAddRefusal(tx, { aggregateId: aggregate.id, zone, host }));
      if (reason) throw new ConflictError(`Cannot add host to aggregate ${aggregate.id}. Reason: ${reason}.`);
      if (aggregate.hosts.includes(host)) throw new ConflictError(`Aggregate ${aggregate.id} already has host ${host}.`);
      await tx.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, $2)`, [aggregate.id, host]);
      return this.get(id, tx);
    });
  }

  private async removeHost(id: string, host: string): Promise<AggregateRecord> {
    return this.locked(async (tx) => {
      const notFound = () => new NotFoundError(`Cannot remove host ${host} in aggregate ${id}`);
      if (!(await this.hostExists(tx, host))) throw notFound();
      const aggregate = await this.get(id, tx).catch((error: unknown) => {
        throw error instanceof NotFoundError ? notFound() : error;
      });
      if (!aggregate.hosts.includes(host)) throw notFound();
      const reason = await hostRemoveRefusal(tx, { aggregateId: aggregate.id, zone: aggregate.availabilityZone, host });
      if (reason) throw new ConflictError(`Cannot remove host from aggregate ${aggregate.id}. Reason: ${reason}.`);
      await tx.query(`DELETE FROM compute.aggregate_hosts WHERE aggregate_id = $1 AND host_id = $2`, [aggregate.id, host]);
      return this.get(id, tx);
    });
  }

  /** Merges into the metadata; a null value removes its key; `availability_zone` sets the zone. */
  private async setMetadata(id: string, updates: Record<string, string | null>): Promise<AggregateRecord> {
    return this.locked(async (tx) => {
      const aggregate = await this.get(id, tx);
      let zone = aggregate.availabilityZone;
      if ('availability_zone' in updates) {
        zone = updates.availability_zone;
        const reason = await zoneChangeRefusal(tx, {
          aggregateId: aggregate.id, name: aggregate.name, currentZone: aggregate.availabilityZone, zone, hosts: aggregate.hosts, checkServers: true,
        });
        if (reason) throw new ValidationError(`Cannot update metadata of aggregate ${aggregate.id}. Reason: ${reason}.`, 'metadata/availability_zone');
      }
      const metadata = { ...aggregate.metadata };
      for (const [key, value] of Object.entries(updates)) {
        if (key === 'availability_zone') continue;
        if (value === null) delete metadata[key];
        else metadata[key] = value;
      }
      await tx.query(`UPDATE compute.aggregates SET metadata = $2, availability_zone = $3, updated_at = now() WHERE id = $1`, [
        aggregate.id,
        metadata,
        zone,
      ]);
      return this.get(id, tx);
    });
  }

  private async hostExists(db: Db, host: string): Promise<boolean> {
    return (await db.query(`SELECT 1 FROM compute.hosts WHERE id = $1`, [host])).length > 0;
  }

  private locked<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [LOCK]);
      return fn(tx);
    });
  }
}
