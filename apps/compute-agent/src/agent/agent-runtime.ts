/**
 * Boot and shutdown order of the agent, in one place (Nest runs the init hooks of sibling
 * providers concurrently, so their order cannot be left to it):
 *   connect the event publisher -> watch power states -> adopt instances -> register handlers
 *   -> (Nest starts serving NATS) -> heartbeat, health endpoint, image cache sweeps.
 * Shutdown lets go of monitors and connections and never stops a VM.
 */
import { Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { RpcClient, RpcServer } from '@nubo/messaging';
import { Server } from 'node:http';
import { AgentConfig } from '../config';
import { startAgentHealthServer } from '../health/agent-health.server';
import { HypervisorDriver } from '../hypervisor/hypervisor-driver';
import { AgentService } from './agent.service';
import { NetworkOps } from '../network/network-ops';
import { HostReporterService } from './host-reporter.service';

export class AgentRuntime implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AgentRuntime.name);
  private health?: Server;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;

  constructor(
    private readonly config: AgentConfig,
    private readonly driver: HypervisorDriver,
    private readonly rpcServer: RpcServer,
    private readonly rpcClient: RpcClient,
    private readonly agent: AgentService,
    private readonly reporter: HostReporterService,
    private readonly network: NetworkOps | null = null,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.rpcClient.connect();
    this.reporter.watchPowerStates();
    const instances = await this.driver.adopt();
    const running = instances.filter((i) => i.powerState === 'running').length;
    this.logger.log(`adopted ${instances.length} instance(s), ${running} running, hostId=${this.config.NUBO_HOST_ID}`);
    const served = [...this.agent.register(this.rpcServer), ...(this.network?.register(this.rpcServer) ?? [])];
    this.logger.log(`serving ${served.join(', ')}`);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.reporter.startHeartbeat();
    const port = this.config.NUBO_AGENT_HEALTH_PORT;
    if (port !== undefined) {
      this.health = await startAgentHealthServer({
        port,
        hostId: this.config.NUBO_HOST_ID,
        instances: async () => (await this.driver.list()).length,
        imageCache: () => this.driver.imageCacheStats(),
      });
      this.logger.log(`health on http://127.0.0.1:${port}/healthz`);
    }
    this.sweepTimer = setInterval(() => void this.sweepImages(), this.config.NUBO_AGENT_IMAGE_SWEEP_S * 1000);
    this.sweepTimer.unref();
  }

  /** One sweep of the image cache at a time; a failed one is logged and tried again next time. */
  sweepImages(): Promise<void> {
    this.sweeping ??= this.driver
      .evictUnusedImages({ ttlMs: this.config.NUBO_AGENT_IMAGE_TTL_S * 1000 })
      .then(
        (evicted) => {
          if (evicted.length) this.logger.log(`image cache sweep evicted ${evicted.length} image(s)`);
        },
        (error: Error) => this.logger.warn(`image cache sweep failed: ${error.message}`),
      )
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    this.logger.log(`shutting down (${signal ?? 'close'}); instances keep running`);
    this.reporter.stop();
    clearInterval(this.sweepTimer);
    await this.sweeping;
    await new Promise<void>((resolve) => (this.health ? this.health.close(() => resolve()) : resolve()));
    await this.driver.close();
    await this.rpcClient.close();
  }
}
