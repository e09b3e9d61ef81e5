/**
 * Nova os-server-groups ("policies" as a one-item list): project_id and user_id from
 * microversion 2.13, the soft policies from 2.15.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { Auth, AuthContext } from '../../common/auth-context';
import { optionalInt } from '../../common/validation';
import { ComputeVersion, atLeast } from '../microversion';
import { GroupWithMembers, GroupsService } from './groups.service';
import { parseCreateGroup } from './server-group-request';

const view = ({ group, members }: GroupWithMembers, version: string) => ({
  id: group.id,
  name: group.name,
  policies: [group.policy],
  members,
  metadata: {},
  ...(atLeast(version, '2.13') ? { project_id: group.projectId, user_id: group.userId } : {}),
});

@Controller('compute/v2.1/os-server-groups')
export class ServerGroupsController {
  constructor(@Inject(GroupsService) private readonly groups: GroupsService) {}

  @Post()
  @HttpCode(200)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    return { server_group: view(await this.groups.create(parseCreateGroup(body, version), auth), version) };
  }

  /** `all_projects` (any value) lists every project's groups for admins, as Nova does. */
  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, string>, @ComputeVersion() version: string): Promise<unknown> {
    const limit = optionalInt(query, 'limit', { min: 0 });
    const offset = optionalInt(query, 'offset', { min: 0 });
    const rows = await this.groups.list(auth, { allProjects: 'all_projects' in query, limit: limit === undefined ? 1000 : Math.min(limit, 1000), offset });
    return { server_groups: rows.map((g) => view(g, version)) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    return { server_group: view(await this.groups.get(id, auth), version) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext): Promise<void> {
    await this.groups.delete(id, auth);
  }
}
