/** Nova os-quota-sets (2.1): project limits, their usage, and the defaults. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put } from '@nestjs/common';
import { ForbiddenError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';
import { QUOTA_DEFAULTS, QUOTA_RESOURCES, parseQuotaUpdate } from './quota-limits';
import { QuotaService } from './quota.service';

@Controller('compute/v2.1/os-quota-sets')
export class QuotaSetsController {
  constructor(
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  @Get(':projectId/defaults')
  defaults(@Param('projectId') projectId: string): unknown {
    return { quota_set: { id: projectId, ...QUOTA_DEFAULTS } };
  }

  @Get(':projectId/detail')
  async detail(@Param('projectId') projectId: string, @Auth() auth: AuthContext): Promise<unknown> {
    this.checkReader(auth, projectId, 'os_compute_api:os-quota-sets:detail');
    const limits = await this.quotas.limits(this.db, projectId);
    const usage = await this.quotas.usage(this.db, projectId, auth.userId);
    const set: Record<string, unknown> = { id: projectId };
    for (const r of QUOTA_RESOURCES) set[r] = { in_use: usage[r] ?? 0, limit: limits[r], reserved: 0 };
    return { quota_set: set };
  }

  @Get(':projectId')
  async show(@Param('projectId') projectId: string, @Auth() auth: AuthContext): Promise<unknown> {
    this.checkReader(auth, projectId, 'os_compute_api:os-quota-sets:show');
    return { quota_set: { id: projectId, ...(await this.quotas.limits(this.db, projectId)) } };
  }

  @Put(':projectId')
  async update(@Param('projectId') projectId: string, @Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-quota-sets:update');
    const update = parseQuotaUpdate(body);
    return { quota_set: await this.quotas.update(projectId, update, auth.userId) };
  }

  @Delete(':projectId')
  @HttpCode(202)
  async reset(@Param('projectId') projectId: string, @Auth() auth: AuthContext): Promise<void> {
    requireAdmin(auth, 'os_compute_api:os-quota-sets:delete');
    await this.quotas.reset(projectId);
  }

  /** A member reads its own project's quotas; another project's is forbidden (Nova's policy). */
  private checkReader(auth: AuthContext, projectId: string, rule: string): void {
    if (!auth.isAdmin && auth.projectId !== projectId) throw new ForbiddenError(`Policy doesn't allow ${rule} to be performed.`);
  }
}
