/**
 * Neutron's quota read calls, answered with Neutron's default limits (Nubo keeps no network
 * quotas yet). `openstack quota show` reads them whenever the catalog has a network service.
 */
import { Controller, Get, Param } from '@nestjs/common';
import { ForbiddenError } from '@nubo/contracts';
import { Auth, AuthContext } from '../common/auth-context';

/** Neutron's defaults (neutron.conf [quotas]). */
export const NEUTRON_QUOTA_DEFAULTS = {
  network: 100,
  subnet: 100,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
  rbac_policy: 10,
  subnetpool: -1,
} as const;

@Controller('network/v2.0/quotas')
export class NetworkQuotasController {
  @Get(':projectId/default')
  defaults(@Param('projectId') projectId: string, @Auth() auth: AuthContext): unknown {
    this.check(auth, projectId);
    return { quota: { ...NEUTRON_QUOTA_DEFAULTS } };
  }

  @Get(':projectId')
  show(@Param('projectId') projectId: string, @Auth() auth: AuthContext): unknown {
    this.check(auth, projectId);
    return { quota: { ...NEUTRON_QUOTA_DEFAULTS } };
  }

  /** Neutron: another project's quotas are for admins (rule get_quota). */
  private check(auth: AuthContext, projectId: string): void {
    if (projectId !== auth.projectId && !auth.isAdmin) throw new ForbiddenError('(rule:get_quota) is disallowed by policy');
  }
}
