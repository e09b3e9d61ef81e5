/** Neutron `/v2.0/subnets`, answered by the network service (apps/network). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, UseFilters } from '@nestjs/common';
import { NeutronQuery } from '@nubo/contracts';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { NeutronExceptionFilter } from './neutron-exception.filter';
import { NeutronGateway } from './neutron-gateway';

@Controller('network/v2.0/subnets')
@UseFilters(NeutronExceptionFilter)
export class SubnetsController {
  constructor(@Inject(NeutronGateway) private readonly neutron: NeutronGateway) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { subnets: await this.neutron.list('subnets', auth, query, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { subnet: await this.neutron.show('subnets', auth, id, query, requestId) };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { subnet: await this.neutron.create('subnets', auth, body, requestId) };
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { subnet: await this.neutron.update('subnets', auth, id, body, requestId) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.neutron.delete('subnets', auth, id, requestId);
  }
}
