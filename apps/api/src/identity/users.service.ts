/**
 * Keystone users. Passwords are stored as scrypt hashes and never returned; a user created without
 * one gets a hash no password matches. Deleting a user deletes its tokens (foreign key cascade);
 * disabling one or changing its password revokes them.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, NotFoundError, ValidationError } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { DomainsService } from './domains.service';
import { UserCreate, parseUserUpdate } from './identity-input';
import { enforce } from './identity-policy';
import { ListFilters, USER_COLUMNS, UserRecord, isUniqueViolation, newIdentityId } from './identity-records';
import { hashPassword } from './password-hasher';

/** Not an scrypt$ hash, so verifyPassword refuses every password. */
const NO_PASSWORD = '!';

const conflict = (name: string, domainId: string) =>
  new ConflictError(`Conflict occurred attempting to store user - Duplicate entry found with name ${name} at domain ID ${domainId}.`);

@Injectable()
export class UsersService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(DomainsService) private readonly domains: DomainsService,
  ) {}

  async list(auth: AuthContext, filters: ListFilters): Promise<UserRecord[]> {
    enforce(auth, 'identity:list_users');
    return this.db.query(
      `SELECT ${USER_COLUMNS} FROM identity.users
        WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR domain_id = $2) AND ($3::boolean IS NULL OR enabled = $3)
        ORDER BY name`,
      [filters.name ?? null, filters.domainId ?? null, filters.enabled ?? null],
    );
  }

  async get(auth: AuthContext, id: string): Promise<UserRecord> {
    enforce(auth, 'identity:get_user', { userId: id });
    return this.find(id);
  }

  async create(auth: AuthContext, input: UserCreate): Promise<UserRecord> {
    enforce(auth, 'identity:create_user');
    const domainId = input.domainId ?? auth.projectDomainId;
    await this.domains.requireExisting(domainId, 'domain_id');
    if (input.defaultProjectId) await this.requireProject(this.db.manager, input.defaultProjectId);
    const hash = input.password === undefined ? NO_PASSWORD : await hashPassword(input.password);
    const rows: UserRecord[] = await this.db.query(
      `INSERT INTO identity.users (id, name, domain_id, password_hash, default_project_id, enabled) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (domain_id, name) DO NOTHING RETURNING ${USER_COLUMNS}`,
      [newIdentityId(), input.name, domainId, hash, input.defaultProjectId ?? null, input.enabled],
    );
    if (!rows[0]) throw conflict(input.name, domainId);
    return rows[0];
  }

  /** PATCH: the body is parsed after the policy check, against the user's current domain. */
  async update(auth: AuthContext, id: string, body: unknown): Promise<UserRecord> {
    enforce(auth, 'identity:update_user', { userId: id });
    const current = await this.find(id);
    const change = parseUserUpdate(body, current);
    const hash = change.password === undefined ? undefined : await hashPassword(change.password);
    return this.db.transaction(async (tx) => {
      if (change.defaultProjectId) await this.requireProject(tx, change.defaultProjectId);
      const [rows] = await tx
        .query(
          `UPDATE identity.users SET name = COALESCE($2, name), password_hash = COALESCE($3, password_hash), enabled = COALESCE($4, enabled),
                  default_project_id = CASE WHEN $5 THEN $6 ELSE default_project_id END
            WHERE id = $1 RETURNING ${USER_COLUMNS}`,
          [id, change.name ?? null, hash ?? null, change.enabled ?? null, change.defaultProjectId !== undefined, change.defaultProjectId ?? null],
        )
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? conflict(change.name ?? '', current.domainId) : error;
        });
      if (!rows[0]) throw new NotFoundError(`Could not find user: ${id}.`);
      if (change.enabled === false || hash !== undefined) {
        await tx.query(`UPDATE identity.tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, [id]);
      }
      return rows[0] as UserRecord;
    });
  }

  async delete(auth: AuthContext, id: string): Promise<void> {
    enforce(auth, 'identity:delete_user', { userId: id });
    const [, count] = await this.db.query(`DELETE FROM identity.users WHERE id = $1`, [id]);
    if (count !== 1) throw new NotFoundError(`Could not find user: ${id}.`);
  }

  private async find(id: string): Promise<UserRecord> {
    const rows: UserRecord[] = await this.db.query(`SELECT ${USER_COLUMNS} FROM identity.users WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError(`Could not find user: ${id}.`);
    return rows[0];
  }

  private async requireProject(db: EntityManager, id: string): Promise<void> {
    const rows = await db.query(`SELECT 1 FROM identity.projects WHERE id = $1`, [id]);
    if (!rows[0]) throw new ValidationError(`Could not find project: ${id}.`, 'default_project_id');
  }
}
