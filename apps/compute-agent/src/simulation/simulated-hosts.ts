/**
 * Many fake hosts in one agent process, for scale tests (NUBO_AGENT_SIMULATED_HOSTS): each has
 * its own host id (<base>-s0001 ...), inventory (simulated-inventory.ts), fake driver, agent
 * service answering its own agent.<hostId>.* subjects, and heartbeat. The heartbeats are spread
 * evenly over the period, so that N hosts cost the scheduler N/period upserts per second in a
 * steady stream rather than N at once.
 */
import { Logger } from '@nestjs/common';
import { AgentService, RpcRegistrar } from '../agent/agent.service';
import { EventPublisher, HostReporterService } from '../agent/host-reporter.service';
import { FakeDriver } from '../hypervisor/fake/fake.driver';
import { Accelerator } from '../hypervisor/hypervisor-driver';
import { simulatedHostId, simulatedInventory } from './simulated-inventory';

export interface SimulatedHostsOptions {
  baseHostId: string;
  count: number;
  seed: number;
  heartbeatMs: number;
  publisher: EventPublisher;
  accelerator: Accelerator;
  /** The traits every simulated host reports (read once, not per host). */
  traits: readonly string[];
  /** Simulated duration of spawn and destroy. */
  delayMs?: number;
}

export interface SimulatedHost {
  id: string;
  driver: FakeDriver;
  agent: AgentService;
  reporter: HostReporterService;
}

export class SimulatedHosts {
  private readonly logger = new Logger(SimulatedHosts.name);
  readonly hosts: SimulatedHost[];
  private readonly starts: NodeJS.Timeout[] = [];

  constructor(private readonly options: SimulatedHostsOptions) {
    const agentStartedAt = new Date();
    this.hosts = Array.from({ length: options.count }, (_, i) => {
      const id = simulatedHostId(options.baseHostId, i + 1);
      const driver = new FakeDriver({ accelerator: options.accelerator, delayMs: options.delayMs });
      return {
        id,
        driver,
        agent: new AgentService({ hostId: id, driver }),
        reporter: new HostReporterService({
          hostId: id,
          driver,
          publisher: options.publisher,
          capacity: simulatedInventory(options.seed, i + 1),
          heartbeatMs: options.heartbeatMs,
          agentStartedAt,
          traits: options.traits,
        }),
      };
    });
  }

  /** Registers every host's agent subjects; returns how many subjects. */
  register(server: RpcRegistrar): number {
    let subjects = 0;
    for (const host of this.hosts) {
      host.reporter.watchPowerStates();
      subjects += host.agent.register(server).length;
    }
    return subjects;
  }

  /** Starts the heartbeats, host i at i/N of the period. */
  start(): void {
    const step = this.options.heartbeatMs / Math.max(1, this.hosts.length);
    this.hosts.forEach((host, i) => this.starts.push(setTimeout(() => host.reporter.startHeartbeat(), Math.floor(i * step))));
    this.logger.log(`${this.hosts.length} simulated hosts heartbeating every ${this.options.heartbeatMs} ms`);
  }

  stop(): void {
    this.starts.forEach((t) => clearTimeout(t));
    this.starts.length = 0;
    for (const host of this.hosts) host.reporter.stop();
  }

  async instances(): Promise<number> {
    const counts = await Promise.all(this.hosts.map((h) => h.driver.list().then((l) => l.length)));
    return counts.reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    this.stop();
    await Promise.all(this.hosts.map((h) => h.driver.close()));
  }
}
