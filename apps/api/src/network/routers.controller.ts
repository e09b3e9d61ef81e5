/** Neutron `/v2.0/routers` and its interface actions, answered by the network service (apps/network). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, UseFilters } from '@nestjs/common';
import { NeutronQuery, NeutronRouterOps, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { NeutronExceptionFilter } from './neutron-exception.filter';
import { NeutronGateway } from './neutron-gateway';

@Controller('network/v2.0/routers')
@UseFilters(NeutronExceptionFilter)
export class RoutersController {
  constructor(
    @Inject(NeutronGateway) private readonly neutron: NeutronGateway,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { routers: await this.neutron.list('routers', auth, query, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { router: await this.neutron.show('routers', auth, id, query, requestId) };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { router: await this.neutron.create('routers', auth, body, requestId) };
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { router: await this.neutron.update('routers', auth, id, body, requestId) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.neutron.delete('routers', auth, id, requestId);
  }

  /** Neutron answers both actions with 200 and the bare interface info (no wrapping key). */
  @Put(':id/add_router_interface')
  async addInterface(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return this.interfaceCall(NeutronRouterOps.addInterface, id, body, auth, requestId);
  }

  @Put(':id/remove_router_interface')
  async removeInterface(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return this.interfaceCall(NeutronRouterOps.removeInterface, id, body, auth, requestId);
  }

  private async interfaceCall(
    op: (typeof NeutronRouterOps)[keyof typeof NeutronRouterOps],
    id: string,
    body: unknown,
    auth: AuthContext,
    requestId: string,
  ): Promise<unknown> {
    const caller = { projectId: auth.projectId, isAdmin: auth.isAdmin };
    return (await this.rpc.call(subjects.service('network', op.op), op, { caller, id, body: body ?? null }, { requestId })).item;
  }
}
