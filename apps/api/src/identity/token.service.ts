/**
 * Keystone-style tokens: opaque random strings handed to the client once; only their sha256 is
 * stored, with the scope and expiry. Validation is one indexed lookup.
 */
import { Inject, Injectable } from '@nestjs/common';
import { AuthenticationError, NotFoundError, ValidationError } from '@nubo/contracts';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { invalid, requireObject } from '../common/validation';
import { API_CONFIG, ApiConfig } from '../config';
import { verifyPassword } from './password-hasher';

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** A token's context with the names of the user's and the project's domains, for token bodies. */
export interface TokenContext extends AuthContext {
  userDomainName: string;
  projectDomainName: string;
}

interface NameOrId {
  id?: string;
  name?: string;
  domain?: { id?: string; name?: string };
}

@Injectable()
export class TokenService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /** POST /v3/auth/tokens with the password method. Returns the token and who it is for. */
  async issue(body: unknown): Promise<{ token: string; auth: TokenContext }> {
    const auth = requireObject(requireObject(body, 'body').auth, 'auth');
    const identity = requireObject(auth.identity, 'identity');
    const methods = identity.methods;
    if (!Array.isArray(methods) || !methods.includes('password')) {
      invalid('methods', methods, "Only the 'password' method is supported");
    }
    const password = requireObject(identity.password, 'password');
    const user = requireObject(password.user, 'user') as NameOrId & { password?: unknown };
    if (typeof user.password !== 'string') invalid('password', undefined, "'password' is a required property");

    const row = await this.findUser(user);
    if (!row || !row.enabled || !(await verifyPassword(user.password as string, row.password_hash))) {
      throw new AuthenticationError('The request you have made requires authentication.');
    }
    const projectId = await this.resolveProject(auth.scope, row.default_project_id);

    const token = randomBytes(32).toString('base64url');
    const auditId = randomBytes(16).toString('base64url').slice(0, 22);
    const now = new Date();
    const expires = new Date(now.getTime() + this.config.NUBO_TOKEN_TTL_S * 1000);
    await this.db.query(
      `INSERT INTO identity.tokens (token_hash, audit_id, user_id, project_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [sha256(token), auditId, row.id, projectId, now, expires],
    );
    const context = await this.lookup(sha256(token));
    if (!context.roles.length) {
      await this.db.query(`DELETE FROM identity.tokens WHERE token_hash = $1`, [sha256(token)]);
      throw new AuthenticationError('User has no access to project');
    }
    return { token, auth: context };
  }

  async validate(token: string): Promise<TokenContext> {
    const context = await this.lookup(sha256(token)).catch(() => undefined);
    if (!context || !context.roles.length) throw new AuthenticationError();
    return context;
  }

  /** GET /v3/auth/tokens: the subject token must be valid; 404 otherwise, as Keystone says. */
  async inspect(subjectToken: string): Promise<TokenContext> {
    const context = await this.lookup(sha256(subjectToken)).catch(() => undefined);
    if (!context) throw new NotFoundError('Could not find token.');
    return context;
  }

  async revoke(subjectToken: string): Promise<void> {
    const result = await this.db.query(
      `UPDATE identity.tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
      [sha256(subjectToken)],
    );
    if (result[1] !== 1) throw new NotFoundError('Could not find token.');
  }

  private async lookup(hash: string): Promise<TokenContext> {
    const rows: Array<Record<string, any>> = await this.db.query(
      `SELECT t.audit_id, t.issued_at, t.expires_at, u.id AS user_id, u.name AS user_name, u.domain_id AS user_domain_id,
              ud.name AS user_domain_name, p.id AS project_id, p.name AS project_name, p.domain_id AS project_domain_id,
              pd.name AS project_domain_name,
              COALESCE(json_agg(json_build_object('id', r.id, 'name', r.name)) FILTER (WHERE r.id IS NOT NULL), '[]') AS roles
         FROM identity.tokens t
         JOIN identity.users u ON u.id = t.user_id AND u.enabled
         JOIN identity.projects p ON p.id = t.project_id AND p.enabled
         JOIN identity.domains ud ON ud.id = u.domain_id
         JOIN identity.domains pd ON pd.id = p.domain_id
         LEFT JOIN identity.role_assignments ra ON ra.user_id = u.id AND ra.project_id = p.id
         LEFT JOIN identity.roles r ON r.id = ra.role_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
        GROUP BY t.token_hash, u.id, p.id, ud.id, pd.id`,
      [hash],
    );
    const r = rows[0];
    if (!r) throw new AuthenticationError();
    const roles = r.roles as Array<{ id: string; name: string }>;
    return {
      tokenAuditId: r.audit_id,
      userId: r.user_id,
      userName: r.user_name,
      userDomainId: r.user_domain_id,
      userDomainName: r.user_domain_name,
      projectId: r.project_id,
      projectName: r.project_name,
      projectDomainId: r.project_domain_id,
      projectDomainName: r.project_domain_name,
      roles,
      isAdmin: roles.some((role) => role.name === 'admin'),
      issuedAt: new Date(r.issued_at),
      expiresAt: new Date(r.expires_at),
    };
  }

  private async findUser(user: NameOrId): Promise<{ id: string; enabled: boolean; password_hash: string; default_project_id: string | null } | undefined> {
    if (user.id) {
      const rows = await this.db.query(`SELECT id, enabled, password_hash, default_project_id FROM identity.users WHERE id = $1`, [user.id]);
      return rows[0];
    }
    if (typeof user.name !== 'string') invalid('user', user, "either 'id' or 'name' with 'domain' is required");
    const domainId = await this.domainId(user.domain, 'user');
    const rows = await this.db.query(
      `SELECT id, enabled, password_hash, default_project_id FROM identity.users WHERE name = $1 AND domain_id = $2`,
      [user.name, domainId],
    );
    return rows[0];
  }

  private async resolveProject(scope: unknown, defaultProjectId: string | null): Promise<string> {
    if (scope === undefined) {
      if (defaultProjectId) return defaultProjectId;
      throw new ValidationError('Unscoped tokens are not supported: give a project scope', 'scope');
    }
    const project = requireObject(requireObject(scope, 'scope').project, 'project') as NameOrId;
    if (project.id) {
      const rows = await this.db.query(`SELECT id FROM identity.projects WHERE id = $1 AND enabled`, [project.id]);
      if (!rows[0]) throw new AuthenticationError('Could not find project: ' + project.id);
      return rows[0].id;
    }
    if (typeof project.name !== 'string') invalid('project', project, "either 'id' or 'name' with 'domain' is required");
    const domainId = await this.domainId(project.domain, 'project');
    const rows = await this.db.query(`SELECT id FROM identity.projects WHERE name = $1 AND domain_id = $2 AND enabled`, [project.name, domainId]);
    if (!rows[0]) throw new AuthenticationError(`Could not find project: ${project.name}`);
    return rows[0].id;
  }

  private async domainId(domain: NameOrId['domain'], field: string): Promise<string> {
    if (!domain || (typeof domain.id !== 'string' && typeof domain.name !== 'string')) {
      invalid('domain', domain, `'domain' with 'id' or 'name' is required for a ${field} given by name`);
    }
    const rows = await this.db.query(`SELECT id FROM identity.domains WHERE id = $1 OR name = $2`, [domain!.id ?? null, domain!.name ?? null]);
    if (!rows[0]) throw new AuthenticationError('Could not find domain');
    return rows[0].id;
  }
}
