/** Neutron `/v2.0/networks`, answered by the network service (apps/network). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, UseFilters } from '@nestjs/common';
import { NeutronQuery } from '@nubo/contracts';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { NeutronExceptionFilter } from './neutron-exception.filter';
import { NeutronGateway } from './neutron-gateway';

@Controller('network/v2.0/networks')
@UseFilters(NeutronExceptionFilter)
export class NetworksController {
  constructor(@Inject(NeutronGateway) private readonly neutron: NeutronGateway) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { networks: await this.neutron.list('networks', auth, query, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { network: await this.neutron.show('networks', auth, id, query, requestId) };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { network: await this.neutron.create('networks', auth, body, requestId) };
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { network: await this.neutron.update('networks', auth, id, body, requestId) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.neutron.delete('networks', auth, id, requestId);
  }
}
