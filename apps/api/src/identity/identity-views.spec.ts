import { assignmentView, collection, domainView, projectView, roleView, userView } from './identity-views';

const base = 'http://cloud:8080';

describe('identity views', () => {
  it('a project carries its domain as parent and a self link', () => {
    expect(projectView({ id: 'p1', name: 'demo', domainId: 'default', description: 'd', enabled: true }, base)).toEqual({
      id: 'p1',
      name: 'demo',
      domain_id: 'default',
      description: 'd',
      enabled: true,
      parent_id: 'default',
      is_domain: false,
      tags: [],
      options: {},
      links: { self: 'http://cloud:8080/identity/v3/projects/p1' },
    });
  });

  it('a user shows default_project_id only when set, and never a password', () => {
    const user = { id: 'u1', name: 'demo', domainId: 'default', defaultProjectId: null, enabled: true };
    const plain = userView(user, base);
    expect(plain).not.toHaveProperty('default_project_id');
    expect(Object.keys(plain).some((k) => k.includes('password') && k !== 'password_expires_at')).toBe(false);
    expect(userView({ ...user, defaultProjectId: 'p1' }, base)).toMatchObject({ default_project_id: 'p1', links: { self: `${base}/identity/v3/users/u1` } });
  });

  it.each([
    ['domain', domainView({ id: 'default', name: 'Default', description: '', enabled: true }, base).links.self, `${base}/identity/v3/domains/default`],
    ['role', roleView({ id: 'r1', name: 'member' }, base).links.self, `${base}/identity/v3/roles/r1`],
  ])('a %s links to itself', (_what, link, expected) => {
    expect(link).toBe(expected);
  });

  it('an assignment, with and without names', () => {
    const a = { userId: 'u', projectId: 'p', roleId: 'r' };
    expect(assignmentView(a, base)).toEqual({
      role: { id: 'r' },
      scope: { project: { id: 'p' } },
      user: { id: 'u' },
      links: { assignment: `${base}/identity/v3/projects/p/users/u/roles/r` },
    });
    const d = { id: 'default', name: 'Default' };
    const named = assignmentView({ ...a, names: { user: 'demo', userDomain: d, project: 'demo', projectDomain: d, role: 'member' } }, base);
    expect(named.user).toEqual({ id: 'u', name: 'demo', domain: d });
    expect(named.scope.project).toEqual({ id: 'p', name: 'demo', domain: d });
    expect(named.role).toEqual({ id: 'r', name: 'member' });
  });

  it('a collection has self, previous and next links', () => {
    expect(collection('roles', [1], `${base}/identity/v3/roles?name=x`)).toEqual({
      roles: [1],
      links: { self: `${base}/identity/v3/roles?name=x`, previous: null, next: null },
    });
  });
});
