/**
 * Nova os-aggregates at microversion 2.1, admins only: list, create, show, update, delete and the
 * add_host / remove_host / set_metadata actions. Every answer is 200, as in Nova (delete has no
 * body). Image pre-caching (2.81) is left out.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put } from '@nestjs/common';
import { Auth, AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';
import { parseAggregateAction, parseCreateAggregate, parseUpdateAggregate } from './aggregate-request';
import { aggregateView, createdAggregateView } from './aggregate-view';
import { AggregatesService } from './aggregates.service';

const rule = (name: string) => `os_compute_api:os-aggregates:${name}`;

@Controller('compute/v2.1/os-aggregates')
export class AggregatesController {
  constructor(@Inject(AggregatesService) private readonly aggregates: AggregatesService) {}

  @Get()
  async list(@Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, rule('index'));
    return { aggregates: (await this.aggregates.list()).map(aggregateView) };
  }

  @Post()
  @HttpCode(200)
  async create(@Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, rule('create'));
    return { aggregate: createdAggregateView(await this.aggregates.create(parseCreateAggregate(body))) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, rule('show'));
    return { aggregate: aggregateView(await this.aggregates.get(id)) };
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, rule('update'));
    return { aggregate: aggregateView(await this.aggregates.update(id, parseUpdateAggregate(body))) };
  }

  @Delete(':id')
  @HttpCode(200)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext): Promise<void> {
    requireAdmin(auth, rule('delete'));
    await this.aggregates.delete(id);
  }

  /** The policy is the action's (Nova checks it after reading the body). */
  @Post(':id/action')
  @HttpCode(200)
  async action(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    const action = parseAggregateAction(body);
    requireAdmin(auth, rule(action.action));
    return { aggregate: aggregateView(await this.aggregates.act(id, action)) };
  }
}
