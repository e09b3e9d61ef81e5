/**
 * The agent's Nest module. Everything is built from the validated config by factories (no
 * process.env below main.ts); AgentRuntime owns the boot order.
 */
import { DynamicModule, Module } from '@nestjs/common';
import { RpcClient, RpcServer } from '@nubo/messaging';
import { AgentRuntime } from './agent/agent-runtime';
import { AgentService } from './agent/agent.service';
import { HostReporterService } from './agent/host-reporter.service';
import { createLeaseWatchdog } from './agent/host-lease-wiring';
import { LeaseWatchdog } from './agent/lease-watchdog';
import { readHostTraits } from './host/host-traits';
import { SHARED_STORAGE_TRAIT } from '@nubo/contracts';
import { AgentConfig } from './config';
import { HostKsm } from './host/host-ksm';
import { createDriver } from './hypervisor/driver-factory';
import { HypervisorDriver } from './hypervisor/hypervisor-driver';
import { NftFirewall } from './network/firewall';
import { HostLinks } from '@nubo/netlinks';
import { NetworkOps } from './network/network-ops';
import { NetworkSync } from './network/network-sync';

export const AGENT_CONFIG = Symbol('AGENT_CONFIG');
export const HYPERVISOR_DRIVER = Symbol('HYPERVISOR_DRIVER');

@Module({})
export class AgentModule {
  static forRoot(options: { config: AgentConfig; rpcServer: RpcServer }): DynamicModule {
    const { config, rpcServer } = options;
    const hostId = config.NUBO_HOST_ID;
    // One boot time for the heartbeats and the lease: a new value tells the control plane the agent restarted.
    const agentStartedAt = new Date();
    return {
      module: AgentModule,
      providers: [
        { provide: AGENT_CONFIG, useValue: config },
        { provide: RpcServer, useValue: rpcServer },
        {
          provide: RpcClient,
          useFactory: () => new RpcClient({ url: config.NUBO_NATS_URL, name: `nubo-agent-${hostId}-events` }),
        },
        {
          provide: HYPERVISOR_DRIVER,
          useFactory: (): HypervisorDriver =>
            createDriver({
              driver: config.NUBO_AGENT_DRIVER,
              stateDir: config.NUBO_AGENT_STATE_DIR,
              accel: config.NUBO_AGENT_ACCEL,
              netns: config.NUBO_AGENT_NETNS,
              qemuBinary: config.NUBO_AGENT_QEMU_BINARY,
              qemuUser: config.qemuUser,
              hotplugPorts: config.NUBO_AGENT_HOTPLUG_PORTS,
              sharedDir: config.NUBO_AGENT_SHARED_STORAGE_DIR,
            }),
        },
        {
          // The host's lease and self-fencing watchdog (renewed by the reporter, checked by every command).
          provide: LeaseWatchdog,
          useFactory: (driver: HypervisorDriver, client: RpcClient) =>
            createLeaseWatchdog({ hostId, agentStartedAt, stateDir: config.NUBO_AGENT_STATE_DIR, fenceTimeoutMs: config.NUBO_AGENT_FENCE_TIMEOUT_MS, driver, client }),
          inject: [HYPERVISOR_DRIVER, RpcClient],
        },
        {
          provide: AgentService,
          useFactory: (driver: HypervisorDriver, guard: LeaseWatchdog) => new AgentService({ hostId, driver, guard }),
          inject: [HYPERVISOR_DRIVER, LeaseWatchdog],
        },
        {
          // KSM is turned on (when configured) before the first heartbeat reports it.
          provide: HostKsm,
          useFactory: async () => {
            const ksm = new HostKsm({ enabled: config.NUBO_AGENT_KSM === 'on' });
            await ksm.enable();
            return ksm;
          },
        },
        {
          provide: HostReporterService,
          useFactory: (driver: HypervisorDriver, publisher: RpcClient, ksm: HostKsm, lease: LeaseWatchdog) =>
            new HostReporterService({
              hostId,
              agentStartedAt,
              lease,
              driver,
              publisher,
              capacity: config.capacity,
              ksm,
              traits: [...readHostTraits(driver.accelerator), ...(config.NUBO_AGENT_SHARED_STORAGE_DIR ? [SHARED_STORAGE_TRAIT] : [])],
              underlayIp: config.NUBO_AGENT_UNDERLAY_IP,
              heartbeatMs: config.NUBO_AGENT_HEARTBEAT_MS,
            }),
          inject: [HYPERVISOR_DRIVER, RpcClient, HostKsm, LeaseWatchdog],
        },
        {
          // Tenant networks in the host's data plane namespace (the fake driver has none: no network ops).
          provide: NetworkOps,
          useFactory: () => {
            if (config.NUBO_AGENT_DRIVER !== 'qemu') return null;
            const firewall = new NftFirewall({ netns: config.NUBO_AGENT_NETNS });
            const sync = new NetworkSync(new HostLinks({ netns: config.NUBO_AGENT_NETNS }), firewall, {
              underlayAddress: config.NUBO_AGENT_UNDERLAY_IP,
              underlayDevice: config.NUBO_AGENT_UNDERLAY_DEVICE,
              tapOwner: config.qemuUser || undefined,
              physicalInterfaces: config.physicalInterfaces,
              prepare: () => firewall.prepareHost(),
            });
            return new NetworkOps(hostId, sync);
          },
        },
        {
          provide: AgentRuntime,
          useFactory: (...deps: [HypervisorDriver, RpcServer, RpcClient, AgentService, HostReporterService, NetworkOps | null]) =>
            new AgentRuntime(config, ...deps),
          inject: [HYPERVISOR_DRIVER, RpcServer, RpcClient, AgentService, HostReporterService, NetworkOps],
        },
      ],
    };
  }
}
