/**
 * Keystone v3 projects: CRUD on /v3/projects, plus the projects of a user (/v3/users/{id}/projects)
 * and of the caller's token (/v3/auth/projects).
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiRequest, Auth, AuthContext } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { parseListFilters, parseProjectCreate } from './identity-input';
import { ProjectRecord } from './identity-records';
import { collection, projectView } from './identity-views';
import { ProjectsService } from './projects.service';

@Controller('identity/v3')
export class ProjectsController {
  constructor(
    @Inject(ProjectsService) private readonly projects: ProjectsService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  private many(rows: ProjectRecord[], req: ApiRequest) {
    const base = publicUrl(this.config);
    return collection('projects', rows.map((p) => projectView(p, base)), base + req.originalUrl);
  }

  private one(row: ProjectRecord) {
    return { project: projectView(row, publicUrl(this.config)) };
  }

  @Get('projects')
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: ApiRequest): Promise<unknown> {
    return this.many(await this.projects.list(auth, parseListFilters(query)), req);
  }

  @Post('projects')
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Body() body: unknown): Promise<unknown> {
    return this.one(await this.projects.create(auth, parseProjectCreate(body)));
  }

  @Get('projects/:id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string): Promise<unknown> {
    return this.one(await this.projects.get(auth, id));
  }

  @Patch('projects/:id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown): Promise<unknown> {
    return this.one(await this.projects.update(auth, id, body));
  }

  @Delete('projects/:id')
  @HttpCode(204)
  async delete(@Auth() auth: AuthContext, @Param('id') id: string): Promise<void> {
    await this.projects.delete(auth, id);
  }

  @Get('users/:id/projects')
  async forUser(@Auth() auth: AuthContext, @Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: ApiRequest): Promise<unknown> {
    return this.many(await this.projects.listForUser(auth, id, parseListFilters(query)), req);
  }

  @Get('auth/projects')
  async forToken(@Auth() auth: AuthContext, @Req() req: ApiRequest): Promise<unknown> {
    return this.many(await this.projects.listForToken(auth), req);
  }
}
