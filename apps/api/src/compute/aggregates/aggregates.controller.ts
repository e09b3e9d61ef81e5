/**
 * Nova os-aggregates, read side only: Nubo has no host aggregates, so the list is empty. It exists
 * because `openstack hypervisor show` lists aggregates and fails if the call does.
 */
import { Controller, Get } from '@nestjs/common';
import { Auth, AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';

@Controller('compute/v2.1/os-aggregates')
export class AggregatesController {
  @Get()
  list(@Auth() auth: AuthContext): unknown {
    requireAdmin(auth, 'os_compute_api:os-aggregates:index');
    return { aggregates: [] };
  }
}
