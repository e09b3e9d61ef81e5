/**
 * Keystone roles (read-only: admin, member, reader from the initial migration) and the grants of
 * a role to a user on a project. Tokens carry no roles of their own: every validation reads the
 * assignments, so a grant or a revoke takes effect on the user's next request.
 */
import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { AssignmentFilters } from './identity-input';
import { enforce } from './identity-policy';
import { AssignmentRecord, RoleRecord } from './identity-records';

export interface Grant {
  projectId: string;
  userId: string;
  roleId: string;
}

@Injectable()
export class RolesService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  async list(auth: AuthContext, filters: { name?: string }): Promise<RoleRecord[]> {
    enforce(auth, 'identity:list_roles');
    return this.db.query(`SELECT id, name FROM identity.roles WHERE ($1::text IS NULL OR name = $1) ORDER BY name`, [filters.name ?? null]);
  }

  async get(auth: AuthContext, id: string): Promise<RoleRecord> {
    enforce(auth, 'identity:get_role');
    const rows: RoleRecord[] = await this.db.query(`SELECT id, name FROM identity.roles WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError(`Could not find role: ${id}.`);
    return rows[0];
  }

  /** PUT /v3/projects/{p}/users/{u}/roles/{r}; granting twice is harmless. */
  async grant(auth: AuthContext, g: Grant): Promise<void> {
    enforce(auth, 'identity:create_grant', { projectId: g.projectId, userId: g.userId });
    await this.requireParties(g);
    await this.db.query(
      `INSERT INTO identity.role_assignments (user_id, project_id, role_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [g.userId, g.projectId, g.roleId],
    );
  }

  /** HEAD /v3/projects/{p}/users/{u}/roles/{r}: 404 unless granted. */
  async check(auth: AuthContext, g: Grant): Promise<void> {
    enforce(auth, 'identity:check_grant', { projectId: g.projectId, userId: g.userId });
    const rows = await this.db.query(
      `SELECT 1 FROM identity.role_assignments WHERE user_id = $1 AND project_id = $2 AND role_id = $3`,
      [g.userId, g.projectId, g.roleId],
    );
    if (!rows[0]) throw notAssigned(g);
  }

  async revoke(auth: AuthContext, g: Grant): Promise<void> {
    enforce(auth, 'identity:revoke_grant', { projectId: g.projectId, userId: g.userId });
    const [, count] = await this.db.query(
      `DELETE FROM identity.role_assignments WHERE user_id = $1 AND project_id = $2 AND role_id = $3`,
      [g.userId, g.projectId, g.roleId],
    );
    if (count !== 1) throw notAssigned(g);
  }

  /** GET /v3/projects/{p}/users/{u}/roles */
  async listGrants(auth: AuthContext, projectId: string, userId: string): Promise<RoleRecord[]> {
    enforce(auth, 'identity:list_grants', { projectId, userId });
    await this.requireParties({ projectId, userId });
    return this.db.query(
      `SELECT r.id, r.name FROM identity.roles r JOIN identity.role_assignments ra ON ra.role_id = r.id
        WHERE ra.user_id = $1 AND ra.project_id = $2 ORDER BY r.name`,
      [userId, projectId],
    );
  }

  /** GET /v3/role_assignments: Nubo's assignments are all direct, user-on-project ones. */
  async listAssignments(auth: AuthContext, f: AssignmentFilters): Promise<AssignmentRecord[]> {
    enforce(auth, 'identity:list_role_assignments');
    if (f.unsatisfiable) return [];
    const rows: Array<Record<string, string>> = await this.db.query(
      `SELECT ra.user_id, ra.project_id, ra.role_id, u.name AS user_name, ud.id AS user_domain_id, ud.name AS user_domain_name,
              p.name AS project_name, pd.id AS project_domain_id, pd.name AS project_domain_name, r.name AS role_name
         FROM identity.role_assignments ra
         JOIN identity.users u ON u.id = ra.user_id JOIN identity.domains ud ON ud.id = u.domain_id
         JOIN identity.projects p ON p.id = ra.project_id JOIN identity.domains pd ON pd.id = p.domain_id
         JOIN identity.roles r ON r.id = ra.role_id
        WHERE ($1::text IS NULL OR ra.user_id = $1) AND ($2::text IS NULL OR ra.project_id = $2) AND ($3::text IS NULL OR ra.role_id = $3)
        ORDER BY p.name, u.name, r.name`,
      [f.userId ?? null, f.projectId ?? null, f.roleId ?? null],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      projectId: r.project_id,
      roleId: r.role_id,
      ...(f.includeNames
        ? {
            names: {
              user: r.user_name,
              userDomain: { id: r.user_domain_id, name: r.user_domain_name },
              project: r.project_name,
              projectDomain: { id: r.project_domain_id, name: r.project_domain_name },
              role: r.role_name,
            },
          }
        : {}),
    }));
  }

  /** Keystone names the first missing party: the role, then the user, then the project. */
  private async requireParties(g: Partial<Grant>): Promise<void> {
    const [found] = await this.db.query(
      `SELECT EXISTS (SELECT 1 FROM identity.roles WHERE id = $1) AS role_found, EXISTS (SELECT 1 FROM identity.users WHERE id = $2) AS user_found,
              EXISTS (SELECT 1 FROM identity.projects WHERE id = $3) AS project_found`,
      [g.roleId ?? null, g.userId, g.projectId],
    );
    if (g.roleId !== undefined && !found.role_found) throw new NotFoundError(`Could not find role: ${g.roleId}.`);
    if (!found.user_found) throw new NotFoundError(`Could not find user: ${g.userId}.`);
    if (!found.project_found) throw new NotFoundError(`Could not find project: ${g.projectId}.`);
  }
}

function notAssigned(g: Grant): NotFoundError {
  return new NotFoundError(
    `Could not find role assignment with role: ${g.roleId}, user or group: ${g.userId}, project, domain, or system: ${g.projectId}.`,
  );
}
