/** Neutron `/v2.0/security-group-rules`, answered by the network service (apps/network). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, UseFilters } from '@nestjs/common';
import { NeutronQuery } from '@nubo/contracts';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { NeutronExceptionFilter } from './neutron-exception.filter';
import { NeutronGateway } from './neutron-gateway';

@Controller('network/v2.0/security-group-rules')
@UseFilters(NeutronExceptionFilter)
export class SecurityGroupRulesController {
  constructor(@Inject(NeutronGateway) private readonly neutron: NeutronGateway) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { security_group_rules: await this.neutron.list('security-group-rules', auth, query, requestId) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @Query() query: NeutronQuery, @RequestId() requestId: string): Promise<unknown> {
    return { security_group_rule: await this.neutron.show('security-group-rules', auth, id, query, requestId) };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return { security_group_rule: await this.neutron.create('security-group-rules', auth, body, requestId) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.neutron.delete('security-group-rules', auth, id, requestId);
  }
}
