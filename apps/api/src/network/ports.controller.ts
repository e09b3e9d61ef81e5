/** Neutron `/v2.0/ports`, answered by the network service (apps/network). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, UseFilters } from '@nestjs/common';
import { NeutronQuery } from '@nubo/contracts';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { NeutronExceptionFilter } from './neutron-exception.filter';
import { NeutronGateway } from './neutron-gateway';

@Controller('network/v2.0/ports')
@UseFilters(NeutronExceptionFilter)
export class PortsController {
  constructor(@Inject(NeutronGateway) private readonly neutron: NeutronGateway) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { ports: await this.neutron.list('ports', auth, query, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { port: await this.neutron.show('ports', auth, id, query, requestId) };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { port: await this.neutron.create('ports', auth, body, requestId) };
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { port: await this.neutron.update('ports', auth, id, body, requestId) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.neutron.delete('ports', auth, id, requestId);
  }
}
