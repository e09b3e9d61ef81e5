/**
 * Flavors: who sees which (public ones, plus private ones the project was given access to; admins
 * see all), admin create/delete, extra specs and flavor access.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, NotFoundError, ValidationError, cpuTopologyOf } from '@nubo/contracts';
import { FlavorEntity } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource, QueryFailedError } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { CreateFlavorRequest } from './flavor-request';

export interface FlavorFilters {
  /** true: public (and the project's private ones); false: private only; null: all. */
  isPublic: boolean | null;
  minRam?: number;
  minDisk?: number;
  sortKey: string;
  sortDir: 'ASC' | 'DESC';
  limit?: number;
  marker?: string;
}

/** Nova's flavor sort keys and our columns. */
export const SORT_KEYS: Record<string, string> = {
  flavorid: 'f.id',
  id: 'f.id',
  name: 'f.name',
  memory_mb: 'f.ram_mb',
  vcpus: 'f.vcpus',
  root_gb: 'f.disk_gb',
  ephemeral_gb: 'f.ephemeral_gb',
  swap: 'f.swap_mb',
  rxtx_factor: 'f.rxtx_factor',
  is_public: 'f.is_public',
  created_at: 'f.created_at',
};

const notFound = (id: string) => new NotFoundError(`Flavor ${id} could not be found.`);
const ACCESS_SQL = 'EXISTS (SELECT 1 FROM compute.flavor_projects p WHERE p.flavor_id = f.id AND p.project_id = :projectId)';

@Injectable()
export class FlavorsService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  async list(auth: AuthContext, filters: FlavorFilters): Promise<FlavorEntity[]> {
    const qb = this.db.getRepository(FlavorEntity).createQueryBuilder('f');
    // Members always get public flavors plus their project's private ones, whatever they ask.
    const isPublic = auth.isAdmin ? filters.isPublic : true;
    if (isPublic === true) qb.andWhere(`(f.is_public OR ${ACCESS_SQL})`, { projectId: auth.projectId });
    if (isPublic === false) qb.andWhere('NOT f.is_public');
    if (filters.minRam !== undefined) qb.andWhere('f.ram_mb >= :minRam', { minRam: filters.minRam });
    if (filters.minDisk !== undefined) qb.andWhere('f.disk_gb >= :minDisk', { minDisk: filters.minDisk });
    qb.orderBy(SORT_KEYS[filters.sortKey], filters.sortDir).addOrderBy('f.id', filters.sortDir);
    let rows = await qb.getMany();
    if (filters.marker !== undefined) {
      const at = rows.findIndex((f) => f.id === filters.marker);
      if (at < 0) throw new ValidationError(`marker [${filters.marker}] not found`, 'marker');
      rows = rows.slice(at + 1);
    }
    return filters.limit === undefined ? rows : rows.slice(0, filters.limit);
  }

  /** A flavor the caller may see; a private one without access is NotFound. */
  async get(id: string, auth: AuthContext): Promise<FlavorEntity> {
    const flavor = await this.db.getRepository(FlavorEntity).findOneBy({ id });
    if (!flavor) throw notFound(id);
    if (!flavor.isPublic && !auth.isAdmin) {
      const [row] = await this.db.query(`SELECT 1 FROM compute.flavor_projects WHERE flavor_id = $1 AND project_id = $2`, [id, auth.projectId]);
      if (!row) throw notFound(id);
    }
    return flavor;
  }

  async create(r: CreateFlavorRequest): Promise<FlavorEntity> {
    const repo = this.db.getRepository(FlavorEntity);
    const flavor = repo.create({
      id: r.id ?? randomUUID(),
      name: r.name,
      vcpus: r.vcpus,
      ramMb: r.ramMb,
      diskGb: r.diskGb,
      ephemeralGb: r.ephemeralGb,
      swapMb: r.swapMb,
      rxtxFactor: r.rxtxFactor,
      isPublic: r.isPublic,
      description: '',
      extraSpecs: {},
    });
    try {
      await repo.insert(flavor);
    } catch (error) {
      const constraint = (error as QueryFailedError & { driverError?: { code?: string; constraint?: string } }).driverError;
      if (constraint?.code === '23505') {
        throw constraint.constraint === 'flavors_pkey'
          ? new ConflictError(`Flavor with ID ${flavor.id} already exists.`)
          : new ConflictError(`Flavor with name ${flavor.name} already exists.`);
      }
      throw error;
    }
    return repo.findOneByOrFail({ id: flavor.id });
  }

  async delete(id: string): Promise<void> {
    const [, deleted] = await this.db.query(`DELETE FROM compute.flavors WHERE id = $1`, [id]);
    if (!deleted) throw notFound(id);
  }

  /** Merges specs into the flavor's (one statement, so concurrent updates do not lose keys). */
  /**
   * Merges extra specs. A CPU topology (hw:cpu_sockets/cores/threads) that cannot make the
   * flavor's vCPUs is refused here, naming the spec, rather than at every spawn of the flavor.
   */
  async setSpecs(id: string, specs: Record<string, string>): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row]: Array<{ vcpus: number; extra_specs: Record<string, string> }> = await tx.query(
        `SELECT vcpus, extra_specs FROM compute.flavors WHERE id = $1 FOR UPDATE`,
        [id],
      );
      if (!row) throw notFound(id);
      cpuTopologyOf(row.vcpus, { ...row.extra_specs, ...specs });
      await tx.query(`UPDATE compute.flavors SET extra_specs = extra_specs || $2::jsonb WHERE id = $1`, [id, JSON.stringify(specs)]);
    });
  }

  async deleteSpec(id: string, key: string): Promise<void> {
    if (!(await this.exists(id))) throw notFound(id);
    const [, deleted] = await this.db.query(`UPDATE compute.flavors SET extra_specs = extra_specs - $2 WHERE id = $1 AND extra_specs ? $2`, [id, key]);
    if (!deleted) throw new NotFoundError(`Flavor ${id} has no extra specs with key ${key}.`);
  }

  async accessList(id: string): Promise<Array<{ flavor_id: string; tenant_id: string }>> {
    const flavor = await this.db.getRepository(FlavorEntity).findOneBy({ id });
    if (!flavor) throw notFound(id);
    if (flavor.isPublic) throw new NotFoundError('Access list not available for public flavors.');
    return this.accessOf(id);
  }

  /** `refusePublic`: microversion 2.7's 409 for a public flavor (before, the row is added and ignored). */
  async addAccess(id: string, projectId: string, o: { refusePublic?: boolean } = {}): Promise<Array<{ flavor_id: string; tenant_id: string }>> {
    const flavor = await this.db.getRepository(FlavorEntity).findOneBy({ id });
    if (!flavor) throw notFound(id);
    if (o.refusePublic && flavor.isPublic) throw new ConflictError('Can not add access to a public flavor.');
    const rows = await this.db.query(
      `INSERT INTO compute.flavor_projects (flavor_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING flavor_id`,
      [id, projectId],
    );
    if (!rows.length) throw new ConflictError(`Flavor access already exists for flavor ${id} and project ${projectId} combination.`);
    return this.accessOf(id);
  }

  async removeAccess(id: string, projectId: string): Promise<Array<{ flavor_id: string; tenant_id: string }>> {
    if (!(await this.exists(id))) throw notFound(id);
    const [, deleted] = await this.db.query(`DELETE FROM compute.flavor_projects WHERE flavor_id = $1 AND project_id = $2`, [id, projectId]);
    if (!deleted) throw new NotFoundError(`Flavor access not found for ${id} / ${projectId} combination.`);
    return this.accessOf(id);
  }

  private exists(id: string): Promise<boolean> {
    return this.db.getRepository(FlavorEntity).existsBy({ id });
  }

  private accessOf(id: string): Promise<Array<{ flavor_id: string; tenant_id: string }>> {
    return this.db.query(
      `SELECT flavor_id, project_id AS tenant_id FROM compute.flavor_projects WHERE flavor_id = $1 ORDER BY created_at, project_id`,
      [id],
    );
  }
}
