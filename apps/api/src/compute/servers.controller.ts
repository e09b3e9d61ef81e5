/** Nova servers: create, list, list detail, show, delete. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { serverLinks, serverView } from './server-view';
import { ServersService } from './servers.service';

@Controller('compute/v2.1/servers')
export class ServersController {
  constructor(
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Post()
  @HttpCode(202)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    const request = this.servers.parseCreate(body);
    const server = await this.servers.create(request, auth, requestId);
    return {
      server: {
        id: server.id,
        links: serverLinks(publicUrl(this.config), server.id),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: [{ name: 'default' }],
      },
    };
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Query('all_tenants') allTenants?: string): Promise<unknown> {
    const rows = await this.servers.list(auth, { allTenants: isTrue(allTenants) });
    return { servers: rows.map((s) => ({ id: s.id, name: s.name, links: serverLinks(publicUrl(this.config), s.id) })) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Query('all_tenants') allTenants?: string): Promise<unknown> {
    const rows = await this.servers.list(auth, { allTenants: isTrue(allTenants) });
    return { servers: rows.map((s) => serverView(s, { baseUrl: publicUrl(this.config), isAdmin: auth.isAdmin })) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    const server = await this.servers.get(id, auth);
    return { server: serverView(server, { baseUrl: publicUrl(this.config), isAdmin: auth.isAdmin }) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.servers.delete(id, auth, requestId);
  }
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'True', 'yes', ''].includes(v);
}
