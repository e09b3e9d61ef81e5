/**
 * Nova 2.1's security-group proxies that the stock CLI uses: `openstack server add/remove security
 * group` finds the group with GET /os-security-groups/{id} then GET /os-security-groups (by name);
 * GET /servers/{id}/os-security-groups lists a server's groups. Creating or changing groups through
 * Nova (POST/PUT/DELETE os-security-groups, os-security-group-rules) is left to Neutron's API.
 */
import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { Auth, AuthContext, RequestId } from '../../common/auth-context';
import { ServersService } from '../servers.service';
import { ServerSecurityGroupsService } from './server-security-groups.service';

@Controller('compute/v2.1/os-security-groups')
export class OsSecurityGroupsController {
  constructor(@Inject(ServerSecurityGroupsService) private readonly groups: ServerSecurityGroupsService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @RequestId() requestId: string): Promise<unknown> {
    const allTenants = query.all_tenants !== undefined && !/^(0|false|off|no)$/i.test(String(query.all_tenants));
    return { security_groups: await this.groups.novaList(auth, allTenants, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { security_group: await this.groups.novaShow(auth, id, requestId) };
  }
}

@Controller('compute/v2.1/servers/:serverId/os-security-groups')
export class ServerOsSecurityGroupsController {
  constructor(
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(ServerSecurityGroupsService) private readonly groups: ServerSecurityGroupsService,
  ) {}

  @Get()
  async list(@Param('serverId') serverId: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    const server = await this.servers.get(serverId, auth);
    return { security_groups: await this.groups.detailsOf(server, auth, requestId) };
  }
}
