/**
 * Keystone v3 roles and grants: GET /v3/roles[/{id}], the user-on-project grant calls under
 * /v3/projects/{p}/users/{u}/roles, and GET /v3/role_assignments.
 */
import { Controller, Delete, Get, Head, HttpCode, Inject, Param, Put, Query, Req } from '@nestjs/common';
import { ApiRequest, Auth, AuthContext } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { parseAssignmentFilters, parseListFilters } from './identity-input';
import { RoleRecord } from './identity-records';
import { assignmentView, collection, roleView } from './identity-views';
import { Grant, RolesService } from './roles.service';

const GRANT = 'projects/:projectId/users/:userId/roles/:roleId';

@Controller('identity/v3')
export class RolesController {
  constructor(
    @Inject(RolesService) private readonly roles: RolesService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  private many(rows: RoleRecord[], req: ApiRequest) {
    const base = publicUrl(this.config);
    return collection('roles', rows.map((r) => roleView(r, base)), base + req.originalUrl);
  }

  @Get('roles')
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: ApiRequest): Promise<unknown> {
    return this.many(await this.roles.list(auth, { name: parseListFilters(query).name }), req);
  }

  @Get('roles/:id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string): Promise<unknown> {
    return { role: roleView(await this.roles.get(auth, id), publicUrl(this.config)) };
  }

  @Put(GRANT)
  @HttpCode(204)
  async grant(@Auth() auth: AuthContext, @Param() grant: Grant): Promise<void> {
    await this.roles.grant(auth, grant);
  }

  // HEAD before GET: Express would otherwise answer HEAD with the GET route.
  @Head(GRANT)
  @HttpCode(204)
  async check(@Auth() auth: AuthContext, @Param() grant: Grant): Promise<void> {
    await this.roles.check(auth, grant);
  }

  @Get(GRANT)
  @HttpCode(204)
  async checkByGet(@Auth() auth: AuthContext, @Param() grant: Grant): Promise<void> {
    await this.roles.check(auth, grant);
  }

  @Delete(GRANT)
  @HttpCode(204)
  async revoke(@Auth() auth: AuthContext, @Param() grant: Grant): Promise<void> {
    await this.roles.revoke(auth, grant);
  }

  @Get('projects/:projectId/users/:userId/roles')
  async grants(@Auth() auth: AuthContext, @Param('projectId') projectId: string, @Param('userId') userId: string, @Req() req: ApiRequest): Promise<unknown> {
    return this.many(await this.roles.listGrants(auth, projectId, userId), req);
  }

  @Get('role_assignments')
  async assignments(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: ApiRequest): Promise<unknown> {
    const base = publicUrl(this.config);
    const rows = await this.roles.listAssignments(auth, parseAssignmentFilters(query));
    return { role_assignments: rows.map((a) => assignmentView(a, base)), links: { self: base + req.originalUrl, previous: null, next: null } };
  }
}
