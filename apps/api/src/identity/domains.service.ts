/** Keystone domains, read-only: Nubo has the Default domain that the initial migration seeds. */
import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError, ValidationError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { enforce } from './identity-policy';
import { DomainRecord, ListFilters } from './identity-records';

@Injectable()
export class DomainsService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  async list(auth: AuthContext, filters: ListFilters): Promise<DomainRecord[]> {
    enforce(auth, 'identity:list_domains');
    return this.db.query(
      `SELECT id, name, description, enabled FROM identity.domains
        WHERE ($1::text IS NULL OR name = $1) AND ($2::boolean IS NULL OR enabled = $2) ORDER BY name`,
      [filters.name ?? null, filters.enabled ?? null],
    );
  }

  async get(auth: AuthContext, id: string): Promise<DomainRecord> {
    enforce(auth, 'identity:get_domain', { domainId: id });
    const rows: DomainRecord[] = await this.db.query(`SELECT id, name, description, enabled FROM identity.domains WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError(`Could not find domain: ${id}.`);
    return rows[0];
  }

  /** For create calls: the domain named in a body must exist; 400 naming the field otherwise. */
  async requireExisting(id: string, field: string): Promise<void> {
    const rows = await this.db.query(`SELECT 1 FROM identity.domains WHERE id = $1`, [id]);
    if (!rows[0]) throw new ValidationError(`Could not find domain: ${id}.`, field);
  }
}
