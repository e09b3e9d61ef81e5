/** Nova's admin-only policies, answered with Nova's 403 message naming the rule. */
import { ForbiddenError } from '@nubo/contracts';
import { AuthContext } from '../../common/auth-context';

export function requireAdmin(auth: AuthContext, rule: string): void {
  if (!auth.isAdmin) throw new ForbiddenError(`Policy doesn't allow ${rule} to be performed.`);
}

/** Nova's `all_projects` / `all_tenants` style flags: present and truthy. */
export function isTruthyFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on', ''].includes(value.toLowerCase());
}
