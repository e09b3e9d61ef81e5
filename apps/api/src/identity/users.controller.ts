/** Keystone v3 users: POST/GET /v3/users, GET/PATCH/DELETE /v3/users/{id}. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiRequest, Auth, AuthContext } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { parseListFilters, parseUserCreate } from './identity-input';
import { collection, userView } from './identity-views';
import { UsersService } from './users.service';

@Controller('identity/v3/users')
export class UsersController {
  constructor(
    @Inject(UsersService) private readonly users: UsersService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: ApiRequest): Promise<unknown> {
    const base = publicUrl(this.config);
    const rows = await this.users.list(auth, parseListFilters(query));
    return collection('users', rows.map((u) => userView(u, base)), base + req.originalUrl);
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Body() body: unknown): Promise<unknown> {
    return { user: userView(await this.users.create(auth, parseUserCreate(body)), publicUrl(this.config)) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string): Promise<unknown> {
    return { user: userView(await this.users.get(auth, id), publicUrl(this.config)) };
  }

  @Patch(':id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown): Promise<unknown> {
    return { user: userView(await this.users.update(auth, id, body), publicUrl(this.config)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() auth: AuthContext, @Param('id') id: string): Promise<void> {
    await this.users.delete(auth, id);
  }
}
