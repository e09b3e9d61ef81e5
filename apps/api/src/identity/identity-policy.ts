/**
 * Keystone's default policy, cut down to Nubo's one role model: an admin (the admin role on the
 * token's project) may do everything; anyone else only reads what is theirs.
 */
import { ForbiddenError } from '@nubo/contracts';
import { AuthContext } from '../common/auth-context';

export type IdentityRule =
  | 'identity:list_domains'
  | 'identity:get_domain'
  | 'identity:list_projects'
  | 'identity:get_project'
  | 'identity:create_project'
  | 'identity:update_project'
  | 'identity:delete_project'
  | 'identity:list_user_projects'
  | 'identity:list_users'
  | 'identity:get_user'
  | 'identity:create_user'
  | 'identity:update_user'
  | 'identity:delete_user'
  | 'identity:list_roles'
  | 'identity:get_role'
  | 'identity:create_grant'
  | 'identity:check_grant'
  | 'identity:revoke_grant'
  | 'identity:list_grants'
  | 'identity:list_role_assignments';

/** What the call is about, from the request path. */
export interface PolicyTarget {
  userId?: string;
  projectId?: string;
  domainId?: string;
}

type Check = (auth: AuthContext, target: PolicyTarget) => boolean;

/** The non-admin cases, as in Keystone's defaults: one's own user, project and domain. */
const OWNER_CHECKS: Partial<Record<IdentityRule, Check>> = {
  'identity:get_user': (auth, t) => t.userId === auth.userId,
  'identity:list_user_projects': (auth, t) => t.userId === auth.userId,
  'identity:get_project': (auth, t) => t.projectId === auth.projectId,
  'identity:get_domain': (auth, t) => t.domainId === auth.projectDomainId,
};

export function isAllowed(auth: AuthContext, rule: IdentityRule, target: PolicyTarget = {}): boolean {
  if (auth.isAdmin) return true;
  return OWNER_CHECKS[rule]?.(auth, target) ?? false;
}

/** Throws Keystone's 403 unless the rule allows the caller. */
export function enforce(auth: AuthContext, rule: IdentityRule, target: PolicyTarget = {}): void {
  if (!isAllowed(auth, rule, target)) {
    throw new ForbiddenError(`You are not authorized to perform the requested action: ${rule}.`);
  }
}
