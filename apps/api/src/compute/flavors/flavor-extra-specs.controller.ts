/** Nova os-extra_specs of a flavor (2.1): anyone who sees the flavor reads; admins write. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put } from '@nestjs/common';
import { NotFoundError, ValidationError } from '@nubo/contracts';
import { Auth, AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';
import { parseCreateSpecs, parseSpecs } from './flavor-request';
import { FlavorsService } from './flavors.service';

@Controller('compute/v2.1/flavors/:flavorId/os-extra_specs')
export class FlavorExtraSpecsController {
  constructor(@Inject(FlavorsService) private readonly flavors: FlavorsService) {}

  @Get()
  async index(@Param('flavorId') flavorId: string, @Auth() auth: AuthContext): Promise<unknown> {
    return { extra_specs: (await this.flavors.get(flavorId, auth)).extraSpecs };
  }

  /** Merges the given specs; answers them back as sent (numbers become strings when read). */
  @Post()
  @HttpCode(200)
  async create(@Param('flavorId') flavorId: string, @Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-flavor-extra-specs:create');
    await this.flavors.setSpecs(flavorId, parseCreateSpecs(body));
    return body;
  }

  @Get(':key')
  async show(@Param('flavorId') flavorId: string, @Param('key') key: string, @Auth() auth: AuthContext): Promise<unknown> {
    const specs = (await this.flavors.get(flavorId, auth)).extraSpecs;
    if (!Object.prototype.hasOwnProperty.call(specs, key)) throw new NotFoundError(`Flavor ${flavorId} has no extra specs with key ${key}.`);
    return { [key]: specs[key] };
  }

  @Put(':key')
  async update(@Param('flavorId') flavorId: string, @Param('key') key: string, @Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-flavor-extra-specs:update');
    const specs = parseSpecs(body, 'body', { exactlyOne: true });
    if (!(key in specs)) throw new ValidationError('Request body and URI mismatch', 'body');
    await this.flavors.setSpecs(flavorId, specs);
    return body;
  }

  /** 200 with no body, as Nova 2.1 answers. */
  @Delete(':key')
  @HttpCode(200)
  async delete(@Param('flavorId') flavorId: string, @Param('key') key: string, @Auth() auth: AuthContext): Promise<void> {
    requireAdmin(auth, 'os_compute_api:os-flavor-extra-specs:delete');
    await this.flavors.deleteSpec(flavorId, key);
  }
}
