import { Logger } from '@nestjs/common';
import { HeartbeatEvent, PowerState, ServerStateEvent } from '@nubo/contracts';
import { FakeDriver } from '../hypervisor/fake/fake.driver';
import { HypervisorDriver, PowerStateChange } from '../hypervisor/hypervisor-driver';
import { EventPublisher, HostReporterService } from './host-reporter.service';

const id = '5a1c2e3f-4b5d-4e6f-8a7b-9c0d1e2f3a4b';
const capacity = { vcpus: 8, ramMb: 16384, diskGb: 100 };

function recorder() {
  const sent: Array<{ subject: string; payload: unknown; requestId: string }> = [];
  const publisher: EventPublisher = {
    emit: (subject, _contract, payload, ctx) => void sent.push({ subject, payload, requestId: ctx.requestId }),
  };
  return { sent, publisher };
}

describe(HostReporterService.name, () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  describe('heartbeat', () => {
    it('describes the host: capacity, accelerator, underlay, instances with power states', async () => {
      const driver = new FakeDriver({ accelerator: 'tcg' });
      await driver.spawn({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 });
      const startedAt = new Date('2026-01-01T00:00:00Z');
      const reporter = new HostReporterService({
        hostId: 'h1', driver, publisher: recorder().publisher, capacity, underlayIp: '10.77.0.11', heartbeatMs: 1000, agentStartedAt: startedAt,
      });
      const beat = await reporter.heartbeat();
      expect(beat).toEqual<HeartbeatEvent>({
        hostId: 'h1',
        agentStartedAt: '2026-01-01T00:00:00.000Z',
        sentAt: expect.any(String),
        accelerator: 'tcg',
        underlayIp: '10.77.0.11',
        capacity,
        traits: expect.arrayContaining(['COMPUTE_ACCEL_TCG']),
        instances: [{ serverId: id, powerState: PowerState.Running }],
      });
      expect(beat.traits).not.toContain('COMPUTE_ACCEL_KVM');
    });

    it('reports the traits it is given, the same list in every heartbeat', async () => {
      const traits = ['COMPUTE_ACCEL_KVM', 'COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2'];
      const reporter = new HostReporterService({ hostId: 'h1', driver: new FakeDriver(), publisher: recorder().publisher, capacity, heartbeatMs: 1000, traits });
      expect((await reporter.heartbeat()).traits).toEqual(traits);
      expect((await reporter.heartbeat()).traits).toEqual(traits);
    });

    it('adds the KSM counters, read afresh for each heartbeat, to the capacity', async () => {
      const reads = [1, 2].map((n) => ({ enabled: true, available: true, run: 1, pagesShared: n, pagesSharing: 10 * n, pagesUnshared: 0, fullScans: n }));
      const ksm = { read: jest.fn(async () => reads.shift()!) };
      const reporter = new HostReporterService({ hostId: 'h1', driver: new FakeDriver(), publisher: recorder().publisher, capacity, ksm, heartbeatMs: 1000 });
      expect((await reporter.heartbeat()).capacity).toEqual({ ...capacity, ksm: expect.objectContaining({ run: 1, pagesShared: 1, pagesSharing: 10 }) });
      expect((await reporter.heartbeat()).capacity.ksm).toMatchObject({ pagesShared: 2, pagesSharing: 20, fullScans: 2 });
      expect(capacity).not.toHaveProperty('ksm');
    });

    it.each([
      ['paused', (d: FakeDriver) => d.pause(id), PowerState.Paused],
      ['stopped', (d: FakeDriver) => d.stop(id, { graceSeconds: 0 }), PowerState.Shutdown],
      ['suspended', (d: FakeDriver) => d.suspend(id), PowerState.Suspended],
    ])('reports a %s instance with its power state', async (_what, op, powerState) => {
      const driver = new FakeDriver();
      await driver.spawn({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 });
      await op(driver);
      const reporter = new HostReporterService({ hostId: 'h1', driver, publisher: recorder().publisher, capacity, heartbeatMs: 1000 });
      expect((await reporter.heartbeat()).instances).toEqual([{ serverId: id, powerState }]);
    });
  });

  describe('startHeartbeat', () => {
    it('publishes on host.<hostId>.heartbeat at once and then every interval, until stopped', async () => {
      const { sent, publisher } = recorder();
      const reporter = new HostReporterService({ hostId: 'h1', driver: new FakeDriver(), publisher, capacity, heartbeatMs: 100 });
      reporter.startHeartbeat();
      await new Promise((resolve) => setTimeout(resolve, 250));
      reporter.stop();
      const count = sent.length;
      expect(count).toBeGreaterThanOrEqual(2);
      expect(sent.every((s) => s.subject === 'host.h1.heartbeat')).toBe(true);
      expect((sent[0].payload as HeartbeatEvent).underlayIp).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(sent.length).toBe(count);
    });

    it('renews the lease before each heartbeat (a new agent is heard only after its join), and stops the lease with it', async () => {
      const order: string[] = [];
      const publisher: EventPublisher = { emit: () => void order.push('heartbeat') };
      let release!: () => void;
      const lease = {
        renew: jest.fn(() => (order.push('renew'), new Promise<void>((resolve) => (release = resolve)))),
        stop: jest.fn(),
        mayReport: () => true,
      };
      const reporter = new HostReporterService({ hostId: 'h1', driver: new FakeDriver(), publisher, capacity, heartbeatMs: 10_000, lease });
      reporter.startHeartbeat();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(order).toEqual(['renew']);
      release();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(order).toEqual(['renew', 'heartbeat']);
      reporter.stop();
      expect(lease.stop).toHaveBeenCalled();
    });

    it('holds the heartbeat back while the lease says so (fenced, its join not answered yet)', async () => {
      const { sent, publisher } = recorder();
      let reportable = false;
      const lease = { renew: async () => undefined, stop: () => undefined, mayReport: () => reportable };
      const reporter = new HostReporterService({ hostId: 'h1', driver: new FakeDriver(), publisher, capacity, heartbeatMs: 30, lease });
      reporter.startHeartbeat();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(sent).toEqual([]);
      reportable = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
      reporter.stop();
      expect(sent.length).toBeGreaterThan(0);
    });
  });

  describe('why QEMU ended (lastExit)', () => {
    const lastExit = { cause: 'unexpected' as const, detail: 'killed by SIGKILL', at: '2026-01-01T00:00:01.000Z' };

    it('travels with the power-state event and in the heartbeat', async () => {
      const { sent, publisher } = recorder();
      let listener: ((change: PowerStateChange) => void) | undefined;
      const driver = {
        accelerator: 'tcg',
        onPowerStateChange: (l: (change: PowerStateChange) => void) => ((listener = l), () => undefined),
        list: async () => [{ serverId: id, powerState: PowerState.Shutdown, lastExit }],
      } as unknown as HypervisorDriver;
      const reporter = new HostReporterService({ hostId: 'h1', driver, publisher, capacity, heartbeatMs: 1000 });
      reporter.watchPowerStates();
      listener!({ serverId: id, powerState: PowerState.Shutdown, reason: 'process-exited', at: lastExit.at, lastExit });
      expect(sent[0].payload).toMatchObject({ serverId: id, powerState: PowerState.Shutdown, lastExit });
      expect((await reporter.heartbeat()).instances).toEqual([{ serverId: id, powerState: PowerState.Shutdown, lastExit }]);
    });
  });

  describe('watchPowerStates', () => {
    it('publishes each driver power-state change on server.<id>.state', async () => {
      const { sent, publisher } = recorder();
      const driver = new FakeDriver();
      const reporter = new HostReporterService({ hostId: 'h1', driver, publisher, capacity, heartbeatMs: 1000 });
      reporter.watchPowerStates();
      await driver.spawn({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 });
      driver.simulate(id, PowerState.Shutdown, 'SHUTDOWN:guest-shutdown');
      reporter.stop();
      driver.simulate(id, PowerState.Running, 'RESUME');
      expect(sent.map((s) => s.subject)).toEqual([`server.${id}.state`, `server.${id}.state`]);
      expect(sent.map((s) => s.payload)).toEqual<ServerStateEvent[]>([
        { serverId: id, hostId: 'h1', powerState: PowerState.Running, reason: 'spawned', at: expect.any(String) },
        { serverId: id, hostId: 'h1', powerState: PowerState.Shutdown, reason: 'SHUTDOWN:guest-shutdown', at: expect.any(String) },
      ]);
    });
  });
});
