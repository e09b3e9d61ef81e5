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
import { FlavorsController } from './compute/flavors.controller';
import { microversionMiddleware } from './compute/microversion';
import { InstanceActionsController } from './compute/instance-actions.controller';
import { ServersController } from './compute/servers.controller';
import { ServerActionService } from './compute/server-action.service';
import { ServersService } from './compute/servers.service';
import { ComputeVersionsController } from './compute/versions.controller';
import { API_CONFIG, ApiConfig } from './config';
import { HealthController } from './health/health.controller';
import { IdentityController } from './identity/identity.controller';
import { TokenService } from './identity/token.service';
import { NuboController } from './nubo/nubo.controller';
import { ProxyController } from './proxy/proxy.controller';

@Module({})
export class ApiModule implements NestModule {
  static register(config: ApiConfig): DynamicModule {
    return {
      module: ApiModule,
      controllers: [
        IdentityController,
        ComputeVersionsController,
        FlavorsController,
        ServersController,
        InstanceActionsController,
        ProxyController,
        NuboController,
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
        ServersService,
        ServerActionService,
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
