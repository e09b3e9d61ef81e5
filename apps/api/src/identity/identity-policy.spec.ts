import { ForbiddenError } from '@nubo/contracts';
import { AuthContext } from '../common/auth-context';
import { IdentityRule, PolicyTarget, enforce, isAllowed } from './identity-policy';

const member: AuthContext = {
  tokenAuditId: 'a',
  userId: 'u1',
  userName: 'demo',
  userDomainId: 'default',
  projectId: 'p1',
  projectName: 'demo',
  projectDomainId: 'default',
  roles: [{ id: 'r', name: 'member' }],
  isAdmin: false,
  issuedAt: new Date(0),
  expiresAt: new Date(0),
};
const admin: AuthContext = { ...member, roles: [{ id: 'r', name: 'admin' }], isAdmin: true };

describe('identity policy', () => {
  it.each<[IdentityRule, PolicyTarget, boolean]>([
    ['identity:get_user', { userId: 'u1' }, true],
    ['identity:get_user', { userId: 'u2' }, false],
    ['identity:list_user_projects', { userId: 'u1' }, true],
    ['identity:list_user_projects', { userId: 'u2' }, false],
    ['identity:get_project', { projectId: 'p1' }, true],
    ['identity:get_project', { projectId: 'p2' }, false],
    ['identity:get_domain', { domainId: 'default' }, true],
    ['identity:get_domain', { domainId: 'other' }, false],
    ['identity:list_projects', {}, false],
    ['identity:create_project', {}, false],
    ['identity:update_project', { projectId: 'p1' }, false],
    ['identity:delete_project', { projectId: 'p1' }, false],
    ['identity:list_users', {}, false],
    ['identity:create_user', {}, false],
    ['identity:update_user', { userId: 'u1' }, false],
    ['identity:delete_user', { userId: 'u1' }, false],
    ['identity:list_roles', {}, false],
    ['identity:create_grant', { projectId: 'p1', userId: 'u1' }, false],
    ['identity:list_role_assignments', {}, false],
  ])('a member: %s %j -> %p', (rule, target, allowed) => {
    expect(isAllowed(member, rule, target)).toBe(allowed);
  });

  it.each<IdentityRule>(['identity:create_project', 'identity:delete_user', 'identity:create_grant', 'identity:list_role_assignments'])(
    'an admin may %s',
    (rule) => {
      expect(isAllowed(admin, rule, { userId: 'someone', projectId: 'elsewhere' })).toBe(true);
    },
  );

  it("refuses with Keystone's message naming the rule", () => {
    expect(() => enforce(member, 'identity:create_project')).toThrow(ForbiddenError);
    expect(() => enforce(member, 'identity:create_project')).toThrow(
      'You are not authorized to perform the requested action: identity:create_project.',
    );
  });
});
