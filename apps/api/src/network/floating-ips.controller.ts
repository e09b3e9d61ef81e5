/** Neutron `/v2.0/floatingips`, answered by the network service (apps/network). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, UseFilters } from '@nestjs/common';
import { NeutronQuery } from '@nubo/contracts';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { NeutronExceptionFilter } from './neutron-exception.filter';
import { NeutronGateway } from './neutron-gateway';

@Controller('network/v2.0/floatingips')
@UseFilters(NeutronExceptionFilter)
export class FloatingIpsController {
  constructor(@Inject(NeutronGateway) private readonly neutron: NeutronGateway) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { floatingips: await this.neutron.list('floatingips', auth, query, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { floatingip: await this.neutron.show('floatingips', auth, id, query, requestId) };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { floatingip: await this.neutron.create('floatingips', auth, body, requestId) };
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { floatingip: await this.neutron.update('floatingips', auth, id, body, requestId) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.neutron.delete('floatingips', auth, id, requestId);
  }
}
