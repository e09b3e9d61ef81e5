/** Nova servers: create, list (filters, pagination), show, update, actions, delete. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ServerEntity } from '@nubo/database';
import { DataSource } from 'typeorm';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { ComputeVersion, atLeast } from './microversion';
import { hostStatusFor, loadHostStatuses } from './server-host-status';
import { createdServerView, serverLinks, serverView } from './server-view';
import { ServerActionService } from './server-action.service';
import { rebuildServerView } from './server-rebuild-view';
import { ServersService } from './servers.service';
import { ServerSecurityGroupsService } from './security-groups/server-security-groups.service';

@Controller('compute/v2.1/servers')
export class ServersController {
  constructor(
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(ServerActionService) private readonly actions: ServerActionService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(ServerSecurityGroupsService) private readonly securityGroups: ServerSecurityGroupsService,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  /** Server bodies at the negotiated version (host_status from 2.16, for admins only). */
  private async views(servers: ServerEntity[], auth: AuthContext, requestId: string, version: string) {
    const [addresses, groups, statuses] = await Promise.all([
      this.servers.addresses(servers, requestId),
      this.securityGroups.namesOf(servers.map((s) => s.id), auth, requestId),
      auth.isAdmin && atLeast(version, '2.16') ? loadHostStatuses(this.db, servers.map((s) => s.hostId)) : Promise.resolve(new Map()),
    ]);
    return servers.map((s) =>
      serverView(s, {
        baseUrl: publicUrl(this.config),
        isAdmin: auth.isAdmin,
        addresses: addresses.get(s.id),
        securityGroups: groups.get(s.id),
        version,
        hostStatus: hostStatusFor(statuses, s.hostId),
      }),
    );
  }

  /** Nova's pagination link: the same query with marker = the last id of this page. */
  private withNextLink(body: Record<string, unknown>, path: string, query: Record<string, unknown>, next?: string) {
    if (!next) return body;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (k !== 'marker' && typeof v === 'string') params.set(k, v);
    params.set('marker', next);
    return { ...body, servers_links: [{ rel: 'next', href: `${publicUrl(this.config)}/compute/v2.1/${path}?${params}` }] };
  }

  @Post()
  @HttpCode(202)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string, @ComputeVersion() version: string): Promise<unknown> {
    const request = this.servers.parseCreate(body, version);
    const server = await this.servers.create(request, auth, requestId);
    return createdServerView(publicUrl(this.config), server.id, request.securityGroups);
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @ComputeVersion() version: string): Promise<unknown> {
    const page = await this.servers.list(query, auth, version);
    const servers = page.servers.map((s) => ({ id: s.id, name: s.name, links: serverLinks(publicUrl(this.config), s.id) }));
    return this.withNextLink({ servers }, 'servers', query, page.next);
  }

  @Get('detail')
  async detail(
    @Auth() auth: AuthContext,
    @Query() query: Record<string, unknown>,
    @RequestId() requestId: string,
    @ComputeVersion() version: string,
  ): Promise<unknown> {
    const page = await this.servers.list(query, auth, version);
    const servers = await this.views(page.servers, auth, requestId, version);
    return this.withNextLink({ servers }, 'servers/detail', query, page.next);
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string, @ComputeVersion() version: string): Promise<unknown> {
    const server = await this.servers.get(id, auth);
    return { server: (await this.views([server], auth, requestId, version))[0] };
  }

  @Put(':id')
  async update(
    @Param('id') id: string,
    @Body() body: unknown,
    @Auth() auth: AuthContext,
    @RequestId() requestId: string,
    @ComputeVersion() version: string,
  ): Promise<unknown> {
    const server = await this.servers.rename(id, body, auth, version);
    return { server: (await this.views([server], auth, requestId, version))[0] };
  }

  /**
   * Power actions answer 202 and no body; os-getConsoleOutput 200 {"output"}; createImage 202 with
   * the new image's Glance URL in Location (microversion 2.1: no body); rebuild 202 {"server"};
   * resize and revertResize 202, confirmResize 204, no body.
   */
  @Post(':id/action')
  @HttpCode(202)
  async action(
    @Param('id') id: string,
    @Body() body: unknown,
    @Auth() auth: AuthContext,
    @RequestId() requestId: string,
    @Res({ passthrough: true }) res: Response,
    @ComputeVersion() version: string,
  ): Promise<unknown> {
    const result = await this.actions.act(id, body, auth, requestId, version);
    res.status(result.status);
    if ('imageId' in result) res.setHeader('location', `${publicUrl(this.config)}/image/v2/images/${result.imageId}`);
    if ('server' in result) {
      const addresses = await this.servers.addresses([result.server], requestId);
      return { server: rebuildServerView(result.server, publicUrl(this.config), result.adminPass, addresses.get(result.server.id), version) };
    }
    return 'body' in result ? result.body : undefined;
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.servers.delete(id, auth, requestId);
  }
}

