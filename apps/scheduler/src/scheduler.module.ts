import { DynamicModule, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HealthOps, subjects } from '@nubo/contracts';
import { openDataSource } from '@nubo/database';
import { probe, runChecks } from '@nubo/health';
import { JobWorker } from '@nubo/jobs';
import { RpcClient, RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from './config';
import { HostRegistryService } from './hosts/host-registry.service';
import { PowerSyncService } from './hosts/power-sync.service';
import { AgentRetry } from './workflows/agent-retry';
import { PlacementService } from './placement/placement.service';
import { AgentClient } from './workflows/agent-client';
import { ServerCreateWorkflow } from './workflows/server-create.workflow';
import { ServerActionWorkflow } from './workflows/server-action.workflow';
import { ServerDeleteWorkflow } from './workflows/server-delete.workflow';
import { ServerSnapshotWorkflow } from './workflows/server-snapshot.workflow';
import { ServerRebuildWorkflow } from './workflows/server-rebuild.workflow';
import { ServerResizeWorkflow } from './workflows/server-resize.workflow';
import { ServerResizeFinishWorkflow } from './workflows/server-resize-finish.workflow';
import { ResizeClaims } from './placement/resize-claims';
import { InstanceSpecBuilder } from './workflows/instance-spec.builder';
import { ServerFaults } from './workflows/server-faults';
import { PlacementInputBuilder } from './workflows/placement-input';
import { CreateReschedule } from './workflows/create-reschedule';
import { ServerInterfaceWorkflow } from './workflows/server-interface.workflow';
import { ServerLiveMigrateWorkflow } from './workflows/server-live-migrate.workflow';
import { LiveMigrateClaims } from './workflows/server-live-migrate-claims';
import { LiveMigrationPoller } from './workflows/server-live-migrate-poll';
import { LiveMigrationRpc } from './workflows/server-live-migrate-rpc';

/** Starts the BullMQ worker once every handler exists, and answers scheduler.health. */
class WorkflowRunner implements OnModuleInit, OnApplicationShutdown {
  private worker?: JobWorker;

  constructor(
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    @Inject(ServerCreateWorkflow) private readonly create: ServerCreateWorkflow,
    @Inject(ServerDeleteWorkflow) private readonly remove: ServerDeleteWorkflow,
    @Inject(ServerActionWorkflow) private readonly action: ServerActionWorkflow,
    @Inject(ServerSnapshotWorkflow) private readonly snapshot: ServerSnapshotWorkflow,
    @Inject(ServerRebuildWorkflow) private readonly rebuild: ServerRebuildWorkflow,
    @Inject(ServerResizeWorkflow) private readonly resize: ServerResizeWorkflow,
    @Inject(ServerInterfaceWorkflow) private readonly interfaces: ServerInterfaceWorkflow,
    @Inject(ServerLiveMigrateWorkflow) private readonly liveMigrate: ServerLiveMigrateWorkflow,
    @Inject(RpcServer) private readonly rpcServer: RpcServer,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  onModuleInit(): void {
    this.worker = new JobWorker(
      { redisUrl: this.config.NUBO_REDIS_URL, prefix: `bull-${this.config.NUBO_CLOUD_NAME}`, concurrency: this.config.NUBO_SCHEDULER_CONCURRENCY },
      {
        'server.create': (payload, job) => this.create.run(payload, job),
        'server.delete': (payload, job) => this.remove.run(payload, job),
        'server.action': (payload, job) => this.action.run(payload, job),
        'server.snapshot': (payload, job) => this.snapshot.run(payload, job),
        'server.rebuild': (payload, job) => this.rebuild.run(payload, job),
        'server.resize': (payload, job) => this.resize.run(payload, job),
        'server.interface': (payload, job) => this.interfaces.run(payload, job),
        'server.live-migrate': (payload, job) => this.liveMigrate.run(payload, job),
      },
    );
    this.worker.start();
    this.rpcServer.handle(subjects.service('scheduler', HealthOps.check.op), HealthOps.check, async () => ({
      service: 'scheduler',
      ...(await runChecks(async () => ({ postgres: await probe(() => this.db.query('SELECT 1')) }))),
    }));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }
}

@Module({})
export class SchedulerModule {
  static register(config: SchedulerConfig, rpcServer: RpcServer): DynamicModule {
    return {
      module: SchedulerModule,
      providers: [
        { provide: SCHEDULER_CONFIG, useValue: config },
        { provide: RpcServer, useValue: rpcServer },
        {
          provide: DataSource,
          useFactory: () =>
            openDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['compute'], applicationName: 'nubo-scheduler', poolSize: 20 }),
        },
        {
          provide: RpcClient,
          useFactory: async () => {
            const client = new RpcClient({ url: config.NUBO_NATS_URL, name: 'nubo-scheduler-client' });
            await client.connect();
            return client;
          },
        },
        PlacementService,
        AgentClient,
        ServerFaults,
        PlacementInputBuilder,
        CreateReschedule,
        ServerCreateWorkflow,
        ServerDeleteWorkflow,
        ServerActionWorkflow,
        ServerSnapshotWorkflow,
        ServerRebuildWorkflow,
        ServerResizeWorkflow,
        ServerResizeFinishWorkflow,
        ServerInterfaceWorkflow,
        ServerLiveMigrateWorkflow,
        LiveMigrateClaims,
        LiveMigrationPoller,
        LiveMigrationRpc,
        ResizeClaims,
        InstanceSpecBuilder,
        HostRegistryService,
        PowerSyncService,
        AgentRetry,
        WorkflowRunner,
      ],
    };
  }
}

