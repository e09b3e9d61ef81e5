/** Keystone v3 domains, read-only: GET /v3/domains (filters name, enabled), GET /v3/domains/{id}. */
import { Controller, Get, Inject, Param, Query, Req } from '@nestjs/common';
import { ApiRequest, Auth, AuthContext } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { DomainsService } from './domains.service';
import { parseListFilters } from './identity-input';
import { collection, domainView } from './identity-views';

@Controller('identity/v3/domains')
export class DomainsController {
  constructor(
    @Inject(DomainsService) private readonly domains: DomainsService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: ApiRequest): Promise<unknown> {
    const base = publicUrl(this.config);
    const rows = await this.domains.list(auth, parseListFilters(query));
    return collection('domains', rows.map((d) => domainView(d, base)), base + req.originalUrl);
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string): Promise<unknown> {
    return { domain: domainView(await this.domains.get(auth, id), publicUrl(this.config)) };
  }
}
