/**
 * The Keystone admin services against real PostgreSQL: what an admin creates can log in, what a
 * member asks for is refused, and deleting or disabling takes tokens away at once.
 */
import { AuthenticationError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { ApiConfig } from '../config';
import { DomainsService } from './domains.service';
import { parseAssignmentFilters, parseProjectCreate, parseUserCreate } from './identity-input';
import { ProjectsService } from './projects.service';
import { RolesService } from './roles.service';
import { TokenService } from './token.service';
import { UsersService } from './users.service';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run('Keystone admin services', () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  let db: DataSource;
  let projects: ProjectsService;
  let users: UsersService;
  let roles: RolesService;
  let tokens: TokenService;
  let memberRoleId: string;

  const admin: AuthContext = {
    tokenAuditId: 'it',
    userId: 'it-admin',
    userName: 'admin',
    userDomainId: 'default',
    projectId: 'it-admin-project',
    projectName: 'admin',
    projectDomainId: 'default',
    roles: [{ id: 'admin', name: 'admin' }],
    isAdmin: true,
    issuedAt: new Date(),
    expiresAt: new Date(Date.now() + 3600_000),
  };

  const login = (name: string, password: string, project: string) =>
    tokens.issue({
      auth: {
        identity: { methods: ['password'], password: { user: { name, domain: { name: 'Default' }, password } } },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    });

  /** A project, a user with a password and the member role on it, and that user's token. */
  async function tenant(suffix: string) {
    const project = await projects.create(admin, parseProjectCreate({ project: { name: `${tag}-${suffix}`, options: {}, tags: [] } }));
    const user = await users.create(
      admin,
      parseUserCreate({ user: { name: `${tag}-${suffix}`, password: 'pw-1', default_project_id: project.id, enabled: true, options: {} } }),
    );
    await roles.grant(admin, { projectId: project.id, userId: user.id, roleId: memberRoleId });
    const { token, auth } = await login(user.name, 'pw-1', project.name);
    return { project, user, token, auth };
  }

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['identity'], applicationName: 'identity-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    const domains = new DomainsService(db);
    projects = new ProjectsService(db, domains);
    users = new UsersService(db, domains);
    roles = new RolesService(db);
    tokens = new TokenService(db, { NUBO_TOKEN_TTL_S: 3600 } as ApiConfig);
    memberRoleId = (await roles.list(admin, { name: 'member' }))[0].id;
  });

  afterAll(async () => {
    if (!db?.isInitialized) return;
    await db.query(`DELETE FROM identity.users WHERE name LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM identity.projects WHERE name LIKE $1`, [`${tag}-%`]);
    await db.destroy();
  });

  it('lets a user an admin created log in to the project it was given, with Keystone ids and domain names', async () => {
    const { project, user, auth } = await tenant('a');
    expect(project.id).toMatch(/^[0-9a-f]{32}$/);
    expect(user.id).toMatch(/^[0-9a-f]{32}$/);
    expect(user).toEqual({ id: user.id, name: `${tag}-a`, domainId: 'default', defaultProjectId: project.id, enabled: true });
    expect(auth).toMatchObject({ userId: user.id, projectId: project.id, userDomainName: 'Default', projectDomainName: 'Default', isAdmin: false });
    expect(auth.roles.map((r) => r.name)).toEqual(['member']);
    const [row] = await db.query(`SELECT password_hash FROM identity.users WHERE id = $1`, [user.id]);
    expect(row.password_hash).toMatch(/^scrypt\$/);
  });

  it('answers 409 for a second project or user of the same name in the domain, and stores nothing', async () => {
    const { project, user } = await tenant('dup');
    await expect(projects.create(admin, parseProjectCreate({ project: { name: project.name } }))).rejects.toBeInstanceOf(ConflictError);
    await expect(users.create(admin, parseUserCreate({ user: { name: user.name, password: 'x' } }))).rejects.toBeInstanceOf(ConflictError);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM identity.projects WHERE name = $1`, [project.name]);
    expect(n).toBe(1);
    const other = await projects.create(admin, parseProjectCreate({ project: { name: `${tag}-dup-2` } }));
    await expect(projects.update(admin, other.id, { project: { name: project.name } })).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses a member every management call (403) and persists nothing, but shows it its own user and projects', async () => {
    const { project, user, auth } = await tenant('m');
    const name = `${tag}-by-member`;
    await expect(projects.create(auth, parseProjectCreate({ project: { name } }))).rejects.toThrow(
      new ForbiddenError('You are not authorized to perform the requested action: identity:create_project.'),
    );
    await expect(users.create(auth, parseUserCreate({ user: { name, password: 'x' } }))).rejects.toBeInstanceOf(ForbiddenError);
    await expect(projects.list(auth, {})).rejects.toBeInstanceOf(ForbiddenError);
    await expect(roles.grant(auth, { projectId: project.id, userId: user.id, roleId: memberRoleId })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(users.delete(auth, user.id)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(users.get(auth, admin.userId)).rejects.toBeInstanceOf(ForbiddenError);
    const [{ n }] = await db.query(`SELECT (SELECT count(*) FROM identity.projects WHERE name = $1) + (SELECT count(*) FROM identity.users WHERE name = $1) AS n`, [name]);
    expect(Number(n)).toBe(0);

    expect((await users.get(auth, user.id)).name).toBe(user.name);
    expect((await projects.listForUser(auth, user.id, {})).map((p) => p.id)).toEqual([project.id]);
    expect((await projects.listForToken(auth)).map((p) => p.id)).toEqual([project.id]);
    expect((await projects.get(auth, project.id)).name).toBe(project.name);
  });

  it('grants, checks, lists and revokes a role; the token follows at once', async () => {
    const { project, user, token } = await tenant('g');
    const grant = { projectId: project.id, userId: user.id, roleId: memberRoleId };
    await expect(roles.check(admin, grant)).resolves.toBeUndefined();
    await roles.grant(admin, grant); // twice is harmless
    expect((await roles.listGrants(admin, project.id, user.id)).map((r) => r.name)).toEqual(['member']);

    const named = await roles.listAssignments(admin, parseAssignmentFilters({ 'user.id': user.id, 'scope.project.id': project.id, include_names: '1' }));
    expect(named).toEqual([
      {
        userId: user.id,
        projectId: project.id,
        roleId: memberRoleId,
        names: { user: user.name, userDomain: { id: 'default', name: 'Default' }, project: project.name, projectDomain: { id: 'default', name: 'Default' }, role: 'member' },
      },
    ]);
    expect(await roles.listAssignments(admin, parseAssignmentFilters({ 'user.id': user.id, 'group.id': 'g' }))).toEqual([]);

    await roles.revoke(admin, grant);
    await expect(roles.check(admin, grant)).rejects.toBeInstanceOf(NotFoundError);
    await expect(roles.revoke(admin, grant)).rejects.toBeInstanceOf(NotFoundError);
    await expect(tokens.validate(token)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(roles.grant(admin, { ...grant, roleId: 'nope' })).rejects.toThrow(new NotFoundError('Could not find role: nope.'));
  });

  it('revokes the tokens of a deleted project and of a deleted user', async () => {
    const a = await tenant('del-p');
    await expect(tokens.validate(a.token)).resolves.toMatchObject({ userId: a.user.id });
    await projects.delete(admin, a.project.id);
    await expect(tokens.validate(a.token)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(projects.get(admin, a.project.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await users.get(admin, a.user.id)).defaultProjectId).toBeNull();
    await expect(projects.delete(admin, a.project.id)).rejects.toBeInstanceOf(NotFoundError);

    const b = await tenant('del-u');
    await users.delete(admin, b.user.id);
    await expect(tokens.validate(b.token)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(login(b.user.name, 'pw-1', b.project.name)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('disabling a user or a project ends its tokens for good; a new password ends the old ones', async () => {
    const u = await tenant('dis-u');
    await users.update(admin, u.user.id, { user: { enabled: false } });
    await expect(tokens.validate(u.token)).rejects.toBeInstanceOf(AuthenticationError);
    await users.update(admin, u.user.id, { user: { enabled: true } });
    await expect(tokens.validate(u.token)).rejects.toBeInstanceOf(AuthenticationError);

    const p = await tenant('dis-p');
    await projects.update(admin, p.project.id, { project: { enabled: false } });
    await expect(tokens.validate(p.token)).rejects.toBeInstanceOf(AuthenticationError);
    await projects.update(admin, p.project.id, { project: { enabled: true } });
    await expect(tokens.validate(p.token)).rejects.toBeInstanceOf(AuthenticationError);

    const { token } = await login(p.user.name, 'pw-1', p.project.name);
    await users.update(admin, p.user.id, { user: { password: 'pw-2' } });
    await expect(tokens.validate(token)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(login(p.user.name, 'pw-1', p.project.name)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(login(p.user.name, 'pw-2', p.project.name)).resolves.toMatchObject({ auth: { userId: p.user.id } });
  });

  it('400 naming the field for a default project or domain that does not exist', async () => {
    const bad = (body: unknown) => users.create(admin, parseUserCreate(body));
    await expect(bad({ user: { name: `${tag}-x`, default_project_id: 'f'.repeat(32) } })).rejects.toMatchObject({ details: { field: 'default_project_id' } });
    await expect(bad({ user: { name: `${tag}-x`, domain_id: 'nodomain' } })).rejects.toBeInstanceOf(ValidationError);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM identity.users WHERE name = $1`, [`${tag}-x`]);
    expect(n).toBe(0);
  });

  it('a user created without a password cannot log in', async () => {
    const project = await projects.create(admin, parseProjectCreate({ project: { name: `${tag}-nopw` } }));
    const user = await users.create(admin, parseUserCreate({ user: { name: `${tag}-nopw`, default_project_id: project.id } }));
    await roles.grant(admin, { projectId: project.id, userId: user.id, roleId: memberRoleId });
    await expect(login(user.name, '', project.name)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(login(user.name, '!', project.name)).rejects.toBeInstanceOf(AuthenticationError);
  });
});
