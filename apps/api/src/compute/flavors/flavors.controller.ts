/** Nova flavors (2.1): list, detail, show; admin create and delete; flavor access. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ValidationError } from '@nubo/contracts';
import type { Request } from 'express';
import { Auth, AuthContext } from '../../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../../config';
import { ComputeVersion, atLeast } from '../microversion';
import { requireAdmin } from '../shared/nova-policy';
import { parseCreateFlavor, parseFlavorAction } from './flavor-request';
import { flavorBrief, flavorView } from './flavor-view';
import { FlavorFilters, FlavorsService, SORT_KEYS } from './flavors.service';

const MAX_LIMIT = 1000;

@Controller('compute/v2.1/flavors')
export class FlavorsController {
  constructor(
    @Inject(FlavorsService) private readonly flavors: FlavorsService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, string>, @Req() req: Request): Promise<unknown> {
    const filters = parseFilters(query, auth);
    const rows = await this.flavors.list(auth, filters);
    return { flavors: rows.map((f) => flavorBrief(f, this.base)), ...this.pageLinks(req, rows, filters) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Query() query: Record<string, string>, @Req() req: Request): Promise<unknown> {
    const filters = parseFilters(query, auth);
    const rows = await this.flavors.list(auth, filters);
    return { flavors: rows.map((f) => flavorView(f, this.base)), ...this.pageLinks(req, rows, filters) };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    return { flavor: flavorView(await this.flavors.get(id, auth), this.base) };
  }

  @Post()
  @HttpCode(200)
  async create(@Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-flavor-manage:create');
    return { flavor: flavorView(await this.flavors.create(parseCreateFlavor(body)), this.base) };
  }

  @Delete(':id')
  @HttpCode(202)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext): Promise<void> {
    requireAdmin(auth, 'os_compute_api:os-flavor-manage:delete');
    await this.flavors.delete(id);
  }

  @Get(':id/os-flavor-access')
  async access(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-flavor-access');
    return { flavor_access: await this.flavors.accessList(id) };
  }

  /** addTenantAccess / removeTenantAccess. */
  @Post(':id/action')
  @HttpCode(200)
  async action(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    const action = parseFlavorAction(body);
    if ('add' in action) {
      requireAdmin(auth, 'os_compute_api:os-flavor-access:add_tenant_access');
      return { flavor_access: await this.flavors.addAccess(id, action.add, { refusePublic: atLeast(version, '2.7') }) };
    }
    requireAdmin(auth, 'os_compute_api:os-flavor-access:remove_tenant_access');
    return { flavor_access: await this.flavors.removeAccess(id, action.remove) };
  }

  private get base(): string {
    return publicUrl(this.config);
  }

  /** Nova's "flavors_links" next link when a page came back full. */
  private pageLinks(req: Request, rows: Array<{ id: string }>, filters: FlavorFilters) {
    const limit = Math.min(filters.limit ?? MAX_LIMIT, MAX_LIMIT);
    if (!rows.length || rows.length !== limit) return {};
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query)) if (k !== 'marker' && typeof v === 'string') params.set(k, v);
    params.set('limit', String(limit));
    params.set('marker', rows[rows.length - 1].id);
    return { flavors_links: [{ rel: 'next', href: `${this.base}${req.path}?${params.toString()}` }] };
  }
}

function parseFilters(q: Record<string, string>, auth: AuthContext): FlavorFilters {
  const int = (key: string, message: string) => {
    const v = q[key];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new ValidationError(message.replace('%s', v), key);
    return Number(v);
  };
  const sortKey = q.sort_key || 'flavorid';
  if (!(sortKey in SORT_KEYS)) throw new ValidationError(`Invalid input for field/attribute sort_key. Value: ${sortKey}. Unsupported sort key`, 'sort_key');
  const sortDir = (q.sort_dir || 'asc').toLowerCase();
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new ValidationError(`Invalid input for field/attribute sort_dir. Value: ${q.sort_dir}. Must be asc or desc`, 'sort_dir');
  const limit = int('limit', 'limit param must be an integer');
  return {
    isPublic: auth.isAdmin ? parseIsPublic(q.is_public) : true,
    minRam: int('minRam', 'Invalid minRam filter [%s]'),
    minDisk: int('minDisk', 'Invalid minDisk filter [%s]'),
    sortKey,
    sortDir: sortDir === 'asc' ? 'ASC' : 'DESC',
    limit: limit === undefined ? undefined : Math.min(limit, MAX_LIMIT),
    marker: q.marker,
  };
}

/** Nova: absent means public only, "none" means all, otherwise a boolean string. */
function parseIsPublic(v: string | undefined): boolean | null {
  if (v === undefined) return true;
  if (v.toLowerCase() === 'none') return null;
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(v.toLowerCase())) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(v.toLowerCase())) return false;
  throw new ValidationError(`Invalid is_public filter [${v}]`, 'is_public');
}
