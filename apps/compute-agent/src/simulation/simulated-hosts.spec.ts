import { Logger } from '@nestjs/common';
import { ConfigError } from '@nubo/config';
import { HeartbeatEvent, PowerState } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { RpcRegistrar } from '../agent/agent.service';
import { EventPublisher } from '../agent/host-reporter.service';
import { loadAgentConfig } from '../config';
import { SimulatedHosts } from './simulated-hosts';
import { simulatedHostId, simulatedInventory } from './simulated-inventory';

const base = { NUBO_NATS_URL: 'nats://127.0.0.1:4222', NUBO_HOST_ID: 'sim', NUBO_AGENT_STATE_DIR: '/var/lib/nubo/sim' };

function problems(env: Record<string, string>): string {
  try {
    loadAgentConfig(env);
    return '';
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join('\n');
    throw error;
  }
}

function simulated(count: number, heartbeatMs = 1000) {
  const sent: HeartbeatEvent[] = [];
  const publisher: EventPublisher = { emit: (subject, _c, payload) => void (subject.endsWith('.heartbeat') && sent.push(payload as HeartbeatEvent)) };
  const hosts = new SimulatedHosts({ baseHostId: 'sim', count, seed: 7, heartbeatMs, publisher, accelerator: 'kvm', traits: ['COMPUTE_ACCEL_KVM'] });
  return { hosts, sent };
}

describe('simulated hosts', () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  describe('simulatedHostId', () => {
    it.each([
      [1, 'sim-s0001'],
      [42, 'sim-s0042'],
      [1000, 'sim-s1000'],
      [10000, 'sim-s10000'],
    ])('numbers host %d as %s', (i, id) => expect(simulatedHostId('sim', i)).toBe(id));
  });

  describe('simulatedInventory', () => {
    it('is the same for the same seed and host, and varies between hosts', () => {
      expect(simulatedInventory(7, 3)).toEqual(simulatedInventory(7, 3));
      const shapes = new Set(Array.from({ length: 100 }, (_, i) => JSON.stringify(simulatedInventory(7, i + 1))));
      expect(shapes.size).toBeGreaterThan(10);
      const hostsOf = (seed: number) => [1, 2, 3, 4, 5, 6].map((i) => simulatedInventory(seed, i));
      expect(hostsOf(8)).not.toEqual(hostsOf(7));
    });

    it('stays within the simulated shapes', () => {
      for (let i = 1; i <= 200; i++) {
        const c = simulatedInventory(1, i);
        expect([8, 16, 32, 48]).toContain(c.vcpus);
        expect([32, 48, 64, 96].map((g) => g * 1024)).toContain(c.ramMb);
        expect([500, 1000, 2000]).toContain(c.diskGb);
      }
    });
  });

  describe('configuration', () => {
    it.each([
      ['a driver other than fake', { NUBO_AGENT_SIMULATED_HOSTS: '10' }, 'NUBO_AGENT_SIMULATED_HOSTS needs NUBO_AGENT_DRIVER=fake'],
      ['a host id too long for the suffix', { NUBO_AGENT_SIMULATED_HOSTS: '10', NUBO_AGENT_DRIVER: 'fake', NUBO_HOST_ID: 'x'.repeat(60) }, 'too long'],
      ['more hosts than the cap', { NUBO_AGENT_SIMULATED_HOSTS: '10001', NUBO_AGENT_DRIVER: 'fake' }, 'NUBO_AGENT_SIMULATED_HOSTS'],
      ['a heartbeat under 100 ms', { NUBO_AGENT_SIMULATED_HOSTS: '10', NUBO_AGENT_DRIVER: 'fake', NUBO_AGENT_SIMULATED_HEARTBEAT_MS: '50' }, 'NUBO_AGENT_SIMULATED_HEARTBEAT_MS'],
    ])('refuses %s', (_what, env, problem) => expect(problems({ ...base, ...env })).toContain(problem));

    it('takes N hosts, a seed and a heartbeat period with the fake driver; none by default', () => {
      expect(loadAgentConfig(base)).toMatchObject({ NUBO_AGENT_SIMULATED_HOSTS: 0, NUBO_AGENT_SIMULATED_SEED: 1, NUBO_AGENT_SIMULATED_HEARTBEAT_MS: undefined });
      const env = { NUBO_AGENT_DRIVER: 'fake', NUBO_AGENT_SIMULATED_HOSTS: '1000', NUBO_AGENT_SIMULATED_SEED: '9', NUBO_AGENT_SIMULATED_HEARTBEAT_MS: '3000' };
      expect(loadAgentConfig({ ...base, ...env })).toMatchObject({ NUBO_AGENT_SIMULATED_HOSTS: 1000, NUBO_AGENT_SIMULATED_SEED: 9, NUBO_AGENT_SIMULATED_HEARTBEAT_MS: 3000 });
    });
  });

  describe(SimulatedHosts.name, () => {
    afterEach(() => jest.useRealTimers());

    it("answers each host's own subjects with that host's driver", async () => {
      const { hosts } = simulated(3);
      const handlers = new Map<string, (req: unknown, ctx: HandlerContext) => Promise<unknown>>();
      const count = hosts.register({ handle: (subject: string, _c: unknown, h: never) => handlers.set(subject, h) } as unknown as RpcRegistrar);
      expect(count).toBe(handlers.size);
      expect(count % 3).toBe(0);
      const serverId = '5a1c2e3f-4b5d-4e6f-8a7b-9c0d1e2f3a4b';
      const spawn = handlers.get('agent.sim-s0002.server.spawn')!;
      await spawn({ opId: 'op', deadline: Date.now() + 60_000, spec: { serverId, vcpus: 1, ramMb: 64, diskGb: 0 } }, { requestId: 'req', subject: 'x' });
      expect(await hosts.hosts[1].driver.status(serverId)).toMatchObject({ powerState: PowerState.Running });
      expect((await hosts.hosts[0].driver.list()).length + (await hosts.hosts[2].driver.list()).length).toBe(0);
      expect(await hosts.instances()).toBe(1);
      await hosts.close();
    });

    it('spreads the first heartbeats over the period, each host with its id and inventory', async () => {
      jest.useFakeTimers();
      const { hosts, sent } = simulated(4, 1000);
      hosts.start();
      const flush = async (ms: number) => {
        await jest.advanceTimersByTimeAsync(ms);
      };
      await flush(1);
      expect(sent.map((b) => b.hostId)).toEqual(['sim-s0001']);
      await flush(250);
      expect(sent.map((b) => b.hostId)).toEqual(['sim-s0001', 'sim-s0002']);
      await flush(500);
      expect(sent.map((b) => b.hostId)).toEqual(['sim-s0001', 'sim-s0002', 'sim-s0003', 'sim-s0004']);
      expect(sent.map((b) => b.capacity)).toEqual([1, 2, 3, 4].map((i) => simulatedInventory(7, i)));
      expect(sent.every((b) => b.traits?.join() === 'COMPUTE_ACCEL_KVM')).toBe(true);
      await flush(1000);
      expect(sent).toHaveLength(8);
      await hosts.close();
      await flush(5000);
      expect(sent).toHaveLength(8);
    });
  });
});
