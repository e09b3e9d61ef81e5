import { DynamicModule, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HealthOps, LEASE_FENCE_MARGIN_MS, subjects } from '@nubo/contracts';
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
import { FailoverPlanService } from './failover-plan/failover-plan.service';
import { HostRecoveryTask } from './fencing/host-recovery.task';
import { createFenceDriver } from './fencing/fencing-config';
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
import { ServerColdMigrateWorkflow } from './workflows/server-cold-migrate.workflow';
import { ServerColdMigrateFinishWorkflow } from './workflows/server-cold-migrate-finish.workflow';
import { ColdMigrateClaims } from './workflows/server-cold-migrate-claims';
import { ColdMigrateRollback } from './workflows/server-cold-migrate-rollback';
import { ColdMigrationRpc } from './workflows/server-cold-migrate-rpc';
import { FAILOVER_TASKS, FailoverController, FailoverTask } from './failover/failover-controller';
import { workflowLockOptions } from './failover/failover-config';
import { HostEpochs } from './hosts/host-epochs';
import { ServerEvacuateWorkflow } from './workflows/server-evacuate.workflow';
import { EvacuateClaims } from './workflows/server-evacuate-claims';
import { EvacuationNetwork } from './workflows/server-evacuate-network';
import { EvacuationService } from './failover/evacuation.service';

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
    @Inject(ServerColdMigrateWorkflow) private readonly coldMigrate: ServerColdMigrateWorkflow,
    @Inject(ServerEvacuateWorkflow) private readonly evacuate: ServerEvacuateWorkflow,
    @Inject(RpcServer) private readonly rpcServer: RpcServer,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  onModuleInit(): void {
    this.worker = new JobWorker(
      {
        redisUrl: this.config.NUBO_REDIS_URL,
        prefix: `bull-${this.config.NUBO_CLOUD_NAME}`,
        concurrency: this.config.NUBO_SCHEDULER_CONCURRENCY,
        ...workflowLockOptions(this.config),
      },
      {
        'server.create': (payload, job) => this.create.run(payload, job),
        'server.delete': (payload, job) => this.remove.run(payload, job),
        'server.action': (payload, job) => this.action.run(payload, job),
        'server.snapshot': (payload, job) => this.snapshot.run(payload, job),
        'server.rebuild': (payload, job) => this.rebuild.run(payload, job),
        'server.resize': (payload, job) => this.resize.run(payload, job),
        'server.interface': (payload, job) => this.interfaces.run(payload, job),
        'server.live-migrate': (payload, job) => this.liveMigrate.run(payload, job),
        'server.cold-migrate': (payload, job) => this.coldMigrate.run(payload, job),
        'server.evacuate': (payload, job) => this.evacuate.run(payload, job),
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
        ServerColdMigrateWorkflow,
        ServerColdMigrateFinishWorkflow,
        ColdMigrateClaims,
        ColdMigrateRollback,
        ColdMigrationRpc,
        ServerEvacuateWorkflow,
        EvacuateClaims,
        EvacuationNetwork,
        EvacuationService,
        ResizeClaims,
        InstanceSpecBuilder,
        HostRegistryService,
        FailoverPlanService,
        HostEpochs,
        PowerSyncService,
        // One active failover controller among the schedulers; its tasks (recoveries) come in FAILOVER_TASKS.
        {
          provide: FAILOVER_TASKS,
          useFactory: (evacuations: EvacuationService) => [
            new HostRecoveryTask(createFenceDriver(config), evacuations, {
              stormPercent: config.NUBO_FAILOVER_STORM_PERCENT,
              downAfterMs: config.NUBO_HOST_DOWN_AFTER_MS,
              settleMs: config.NUBO_FAILOVER_SETTLE_MS,
              stormWindowMs: config.NUBO_FAILOVER_STORM_WINDOW_MS,
              selfFenceMarginMs: LEASE_FENCE_MARGIN_MS,
              retryMs: config.NUBO_FAILOVER_RETRY_MS,
              trustLeaseExpiry: config.NUBO_FAILOVER_TRUST_LEASE_EXPIRY === 'on',
            }),
          ],
          inject: [EvacuationService],
        },
        {
          provide: FailoverController,
          useFactory: (tasks: FailoverTask[]) => FailoverController.fromConfig(config, tasks),
          inject: [FAILOVER_TASKS],
        },
        AgentRetry,
        WorkflowRunner,
      ],
    };
  }
}

