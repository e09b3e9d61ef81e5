/**
 * The agent's module when NUBO_AGENT_SIMULATED_HOSTS > 0: the process is N fake hosts
 * (SimulatedHosts) instead of one. Same boot order as AgentRuntime: connect the publisher,
 * register every host's subjects (Nest serves them once listening), then the heartbeats and the
 * health endpoint.
 */
import { DynamicModule, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { RpcClient, RpcServer } from '@nubo/messaging';
import { Server } from 'node:http';
import { AgentConfig, SIMULATED_HEARTBEAT_DEFAULT_MS } from '../config';
import { startAgentHealthServer } from '../health/agent-health.server';
import { readHostTraits } from '../host/host-traits';
import { resolveAccelerator } from '../hypervisor/qemu/accelerator';
import { SimulatedHosts } from './simulated-hosts';

class SimulatedAgentRuntime implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SimulatedAgentRuntime.name);
  private health?: Server;

  constructor(
    private readonly config: AgentConfig,
    private readonly rpcServer: RpcServer,
    private readonly rpcClient: RpcClient,
    private readonly hosts: SimulatedHosts,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.rpcClient.connect();
    const subjects = this.hosts.register(this.rpcServer);
    this.logger.log(`serving ${subjects} subjects for ${this.hosts.hosts.length} simulated hosts of ${this.config.NUBO_HOST_ID}`);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.hosts.start();
    const port = this.config.NUBO_AGENT_HEALTH_PORT;
    if (port !== undefined) {
      this.health = await startAgentHealthServer({ port, hostId: this.config.NUBO_HOST_ID, instances: () => this.hosts.instances() });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.hosts.close();
    await new Promise<void>((resolve) => (this.health ? this.health.close(() => resolve()) : resolve()));
    await this.rpcClient.close();
  }
}

@Module({})
export class SimulatedAgentModule {
  static forRoot(options: { config: AgentConfig; rpcServer: RpcServer }): DynamicModule {
    const { config, rpcServer } = options;
    const rpcClient = new RpcClient({ url: config.NUBO_NATS_URL, name: `nubo-agent-${config.NUBO_HOST_ID}-events` });
    const accelerator = resolveAccelerator(config.NUBO_AGENT_ACCEL);
    const hosts = new SimulatedHosts({
      baseHostId: config.NUBO_HOST_ID,
      count: config.NUBO_AGENT_SIMULATED_HOSTS,
      seed: config.NUBO_AGENT_SIMULATED_SEED,
      heartbeatMs: config.NUBO_AGENT_SIMULATED_HEARTBEAT_MS ?? SIMULATED_HEARTBEAT_DEFAULT_MS,
      publisher: rpcClient,
      accelerator,
      traits: readHostTraits(accelerator),
    });
    return {
      module: SimulatedAgentModule,
      providers: [{ provide: SimulatedAgentRuntime, useValue: new SimulatedAgentRuntime(config, rpcServer, rpcClient, hosts) }],
    };
  }
}
