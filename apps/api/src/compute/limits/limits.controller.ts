/** Nova GET /limits (2.1): the project's absolute limits and usage; no rate limits. */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ForbiddenError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { QuotaService } from '../quotas/quota.service';

@Controller('compute/v2.1/limits')
export class LimitsController {
  constructor(
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  @Get()
  async show(@Auth() auth: AuthContext, @Query('tenant_id') tenantId?: string): Promise<unknown> {
    const projectId = tenantId ?? auth.projectId;
    if (projectId !== auth.projectId && !auth.isAdmin) {
      throw new ForbiddenError(`Policy doesn't allow os_compute_api:limits:other_project to be performed.`);
    }
    const q = await this.quotas.limits(this.db, projectId);
    const used = await this.quotas.usage(this.db, projectId, auth.userId);
    return {
      limits: {
        absolute: {
          maxImageMeta: q.metadata_items,
          maxPersonality: q.injected_files,
          maxPersonalitySize: q.injected_file_content_bytes,
          maxSecurityGroupRules: q.security_group_rules,
          maxSecurityGroups: q.security_groups,
          maxServerMeta: q.metadata_items,
          maxTotalCores: q.cores,
          maxTotalFloatingIps: q.floating_ips,
          maxTotalInstances: q.instances,
          maxTotalKeypairs: q.key_pairs,
          maxTotalRAMSize: q.ram,
          maxServerGroups: q.server_groups,
          maxServerGroupMembers: q.server_group_members,
          totalCoresUsed: used.cores ?? 0,
          totalInstancesUsed: used.instances ?? 0,
          totalRAMUsed: used.ram ?? 0,
          totalSecurityGroupsUsed: 0,
          totalFloatingIpsUsed: 0,
          totalServerGroupsUsed: used.server_groups ?? 0,
        },
        rate: [],
      },
    };
  }
}
