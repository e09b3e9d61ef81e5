import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { openDataSource } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { AuthGuard } from './common/auth.guard';
import { IdempotencyInterceptor } from './common/idempotency.interceptor';
import { OpenStackExceptionFilter } from './common/openstack-exception.filter';
import { requestIdMiddleware } from './common/request-id.middleware';
import { AggregatesController } from './compute/aggregates/aggregates.controller';
import { AggregatesService } from './compute/aggregates/aggregates.service';
import { AvailabilityZonesController } from './compute/availability-zones/availability-zones.controller';
import { FlavorExtraSpecsController } from './compute/flavors/flavor-extra-specs.controller';
import { FlavorsController } from './compute/flavors/flavors.controller';
import { FlavorsService } from './compute/flavors/flavors.service';
import { HypervisorsController } from './compute/hypervisors/hypervisors.controller';
import { KeypairsController } from './compute/keypairs/keypairs.controller';
import { KeypairsService } from './compute/keypairs/keypairs.service';
import { LimitsController } from './compute/limits/limits.controller';
import { OsServicesController } from './compute/os-services/os-services.controller';
import { QuotaSetsController } from './compute/quotas/quota-sets.controller';
import { QuotaService } from './compute/quotas/quota.service';
import { GroupsService } from './compute/server-groups/groups.service';
import { ServerGroupsController } from './compute/server-groups/server-groups.controller';
import { NetworkQuotasController } from './network-quotas/network-quotas.controller';
import { NEUTRON_CONTROLLERS, NEUTRON_PROVIDERS } from './network';
import { microversionMiddleware } from './compute/microversion';
import { InstanceActionsController } from './compute/instance-actions.controller';
import { MigrationsController } from './compute/migrations/migrations.controller';
import { LiveMigrationService } from './compute/migrations/live-migration.service';
import { ColdMigrationService } from './compute/migrations/cold-migration.service';
import { EvacuateService } from './compute/migrations/evacuate.service';
import { ServerInterfacesController } from './compute/server-interfaces/server-interfaces.controller';
import { ServerInterfacesService } from './compute/server-interfaces/server-interfaces.service';
import { SECURITY_GROUP_CONTROLLERS, SECURITY_GROUP_PROVIDERS } from './compute/security-groups';
import { ServersController } from './compute/servers.controller';
import { ServerTagsController } from './compute/server-tags.controller';
import { ServerActionService } from './compute/server-action.service';
import { ServerConsoleService } from './compute/server-console.service';
import { ServerSnapshotService } from './compute/server-snapshot.service';
import { ServerRebuildService } from './compute/server-rebuild.service';
import { ServerResizeService } from './compute/server-resize.service';
import { ServersService } from './compute/servers.service';
import { ComputeVersionsController } from './compute/versions.controller';
import { API_CONFIG, ApiConfig } from './config';
import { HealthController } from './health/health.controller';
import { IdentityController } from './identity/identity.controller';
import { DomainsController } from './identity/domains.controller';
import { DomainsService } from './identity/domains.service';
import { ProjectsController } from './identity/projects.controller';
import { ProjectsService } from './identity/projects.service';
import { RolesController } from './identity/roles.controller';
import { RolesService } from './identity/roles.service';
import { UsersController } from './identity/users.controller';
import { UsersService } from './identity/users.service';
import { TokenService } from './identity/token.service';
import { NuboController } from './nubo/nubo.controller';
import { DomainXmlController } from './nubo/domain-xml.controller';
import { HostTraitsController } from './nubo/host-traits.controller';
import { HostDrainController } from './nubo/host-drain.controller';
import { HostDrainService } from './nubo/host-drain.service';
import { BalloonController } from './nubo/balloon.controller';
import { PlacementController } from './nubo/placement.controller';
import { MigrationPreflightController } from './nubo/migration-preflight.controller';
import { FailoverPlanController } from './nubo/failover-plan.controller';
import { FailoverSettingsController } from './nubo/failover-settings.controller';
import { ProxyController } from './proxy/proxy.controller';
import { GlanceController } from './image/glance.controller';
import { GlanceMembersController } from './image/glance-members.controller';
import { ImageConversionController } from './image/image-conversion.controller';
import { ImageDataProxy } from './image/image-data.proxy';

@Module({})
export class ApiModule implements NestModule {
  static register(config: ApiConfig): DynamicModule {
    return {
      module: ApiModule,
      controllers: [
        IdentityController,
        DomainsController,
        ProjectsController,
        UsersController,
        RolesController,
        ComputeVersionsController,
        FlavorsController,
        FlavorExtraSpecsController,
        KeypairsController,
        ServerGroupsController,
        QuotaSetsController,
        LimitsController,
        HypervisorsController,
        OsServicesController,
        AvailabilityZonesController,
        AggregatesController,
        NetworkQuotasController,
        ...NEUTRON_CONTROLLERS,
        ServersController,
        ServerTagsController,
        InstanceActionsController,
        MigrationsController,
        ServerInterfacesController,
        ...SECURITY_GROUP_CONTROLLERS,
        ProxyController,
        GlanceMembersController,
        GlanceController,
        ImageConversionController,
        NuboController,
        DomainXmlController,
        HostTraitsController,
        HostDrainController,
        BalloonController,
        PlacementController,
        FailoverPlanController,
        FailoverSettingsController,
        MigrationPreflightController,
        HealthController,
      ],
      providers: [
        { provide: API_CONFIG, useValue: config },
        {
          provide: DataSource,
          useFactory: () =>
            openDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['identity', 'compute'], applicationName: 'nubo-api', poolSize: 20 }),
        },
        {
          provide: JobQueue,
          useFactory: () => new JobQueue({ redisUrl: config.NUBO_REDIS_URL, prefix: `bull-${config.NUBO_CLOUD_NAME}` }),
        },
        {
          provide: RpcClient,
          useFactory: async () => {
            const client = new RpcClient({ url: config.NUBO_NATS_URL, name: 'nubo-api' });
            await client.connect();
            return client;
          },
        },
        TokenService,
        DomainsService,
        ProjectsService,
        UsersService,
        RolesService,
        ServersService,
        ServerActionService,
        ServerInterfacesService,
        ServerConsoleService,
        ServerSnapshotService,
        ServerRebuildService,
        ServerResizeService,
        LiveMigrationService,
        ColdMigrationService,
        EvacuateService,
        HostDrainService,
        QuotaService,
        GroupsService,
        KeypairsService,
        FlavorsService,
        AggregatesService,
        ImageDataProxy,
        ...NEUTRON_PROVIDERS,
        ...SECURITY_GROUP_PROVIDERS,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: OpenStackExceptionFilter },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(requestIdMiddleware).forRoutes('*path');
    consumer.apply(microversionMiddleware).forRoutes('compute/*path');
  }
}
