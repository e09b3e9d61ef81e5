/**
 * Keystone projects. Deleting a project deletes its tokens and role assignments (foreign keys
 * cascade); disabling one revokes its tokens, so re-enabling it does not bring them back.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, NotFoundError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { DomainsService } from './domains.service';
import { ProjectCreate, parseProjectUpdate } from './identity-input';
import { enforce } from './identity-policy';
import { ListFilters, PROJECT_COLUMNS, ProjectRecord, isUniqueViolation, newIdentityId } from './identity-records';

const conflict = (name: string) =>
  new ConflictError(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${name}.`);

@Injectable()
export class ProjectsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(DomainsService) private readonly domains: DomainsService,
  ) {}

  async list(auth: AuthContext, filters: ListFilters): Promise<ProjectRecord[]> {
    enforce(auth, 'identity:list_projects');
    return this.query(filters);
  }

  /** GET /v3/users/{id}/projects: projects where the user holds any role. */
  async listForUser(auth: AuthContext, userId: string, filters: ListFilters): Promise<ProjectRecord[]> {
    enforce(auth, 'identity:list_user_projects', { userId });
    const users = await this.db.query(`SELECT 1 FROM identity.users WHERE id = $1`, [userId]);
    if (!users[0]) throw new NotFoundError(`Could not find user: ${userId}.`);
    return this.query(filters, userId);
  }

  /** GET /v3/auth/projects: the enabled projects the caller may scope a token to. */
  async listForToken(auth: AuthContext): Promise<ProjectRecord[]> {
    return this.query({ enabled: true }, auth.userId);
  }

  async get(auth: AuthContext, id: string): Promise<ProjectRecord> {
    enforce(auth, 'identity:get_project', { projectId: id });
    return this.find(id);
  }

  async create(auth: AuthContext, input: ProjectCreate): Promise<ProjectRecord> {
    enforce(auth, 'identity:create_project');
    // Keystone puts a project without domain_id in the domain of the caller's project.
    const domainId = input.domainId ?? auth.projectDomainId;
    await this.domains.requireExisting(domainId, 'domain_id');
    const rows: ProjectRecord[] = await this.db.query(
      `INSERT INTO identity.projects (id, name, domain_id, description, enabled) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (domain_id, name) DO NOTHING RETURNING ${PROJECT_COLUMNS}`,
      [newIdentityId(), input.name, domainId, input.description, input.enabled],
    );
    if (!rows[0]) throw conflict(input.name);
    return rows[0];
  }

  /** PATCH: the body is parsed after the policy check, against the project's current domain. */
  async update(auth: AuthContext, id: string, body: unknown): Promise<ProjectRecord> {
    enforce(auth, 'identity:update_project', { projectId: id });
    const change = parseProjectUpdate(body, await this.find(id));
    return this.db.transaction(async (tx) => {
      const [rows] = await tx
        .query(
          `UPDATE identity.projects SET name = COALESCE($2, name), description = COALESCE($3, description), enabled = COALESCE($4, enabled)
            WHERE id = $1 RETURNING ${PROJECT_COLUMNS}`,
          [id, change.name ?? null, change.description ?? null, change.enabled ?? null],
        )
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? conflict(change.name ?? '') : error;
        });
      if (!rows[0]) throw new NotFoundError(`Could not find project: ${id}.`);
      if (change.enabled === false) {
        await tx.query(`UPDATE identity.tokens SET revoked_at = now() WHERE project_id = $1 AND revoked_at IS NULL`, [id]);
      }
      return rows[0] as ProjectRecord;
    });
  }

  async delete(auth: AuthContext, id: string): Promise<void> {
    enforce(auth, 'identity:delete_project', { projectId: id });
    const [, count] = await this.db.query(`DELETE FROM identity.projects WHERE id = $1`, [id]);
    if (count !== 1) throw new NotFoundError(`Could not find project: ${id}.`);
  }

  private async find(id: string): Promise<ProjectRecord> {
    const rows: ProjectRecord[] = await this.db.query(`SELECT ${PROJECT_COLUMNS} FROM identity.projects WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError(`Could not find project: ${id}.`);
    return rows[0];
  }

  private query(filters: ListFilters, memberId?: string): Promise<ProjectRecord[]> {
    return this.db.query(
      `SELECT ${PROJECT_COLUMNS} FROM identity.projects p
        WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR domain_id = $2) AND ($3::boolean IS NULL OR enabled = $3)
          AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM identity.role_assignments ra WHERE ra.project_id = p.id AND ra.user_id = $4))
        ORDER BY name`,
      [filters.name ?? null, filters.domainId ?? null, filters.enabled ?? null, memberId ?? null],
    );
  }
}
