import { ConflictError, NotFoundError, PowerState } from '@nubo/contracts';
import { HypervisorError, PowerStateChange } from '../hypervisor-driver';
import { FakeDriver, FakeHost } from './fake.driver';

const id = '0b8e6f1c-1d2e-4f3a-9b4c-5d6e7f8a9b0c';
const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };

describe(FakeDriver.name, () => {
  let driver: FakeDriver;
  let changes: PowerStateChange[];

  beforeEach(() => {
    driver = new FakeDriver();
    changes = [];
    driver.onPowerStateChange((c) => changes.push(c));
  });

  describe('spawn', () => {
    it('runs the instance and reports the change', async () => {
      const status = await driver.spawn(spec);
      expect(status).toMatchObject({ serverId: id, powerState: PowerState.Running, qmpStatus: 'running' });
      expect(changes.map((c) => [c.serverId, c.powerState, c.reason])).toEqual([[id, PowerState.Running, 'spawned']]);
    });

    it('is idempotent: a second spawn keeps the same pid and reports nothing new', async () => {
      const first = await driver.spawn(spec);
      const second = await driver.spawn(spec);
      expect(second.pid).toBe(first.pid);
      expect(changes).toHaveLength(1);
    });

    it('refuses a running instance with another shape', async () => {
      await driver.spawn(spec);
      await expect(driver.spawn({ ...spec, ramMb: 128 })).rejects.toBeInstanceOf(ConflictError);
    });

    it('leaves nothing behind when it fails', async () => {
      driver.failNextSpawn(new Error('boom'));
      await expect(driver.spawn(spec)).rejects.toBeInstanceOf(HypervisorError);
      expect(await driver.list()).toEqual([]);
      expect(driver.host.instances.size).toBe(0);
    });

    it('starts a shut-down instance again', async () => {
      await driver.spawn(spec);
      driver.simulate(id, PowerState.Shutdown, 'SHUTDOWN:guest-shutdown');
      const status = await driver.spawn(spec);
      expect(status.powerState).toBe(PowerState.Running);
    });
  });

  describe('destroy', () => {
    it('is idempotent: false when nothing is there', async () => {
      await driver.spawn(spec);
      expect(await driver.destroy(id)).toBe(true);
      expect(await driver.destroy(id)).toBe(false);
      expect((await driver.status(id)).powerState).toBe(PowerState.NoState);
      expect(changes.map((c) => c.powerState)).toEqual([PowerState.Running, PowerState.Shutdown]);
    });
  });

  describe('adopt', () => {
    it('finds the instances of the host after a restart, with the same pids', async () => {
      const host = new FakeHost();
      const before = new FakeDriver({ host });
      const spawned = await before.spawn(spec);
      await before.close();
      const after = new FakeDriver({ host });
      expect(await after.list()).toEqual([]);
      expect(await after.adopt()).toEqual([spawned]);
    });
  });

  describe('power operations', () => {
    it('stop then start: shutdown without a pid, then running with a new pid', async () => {
      const { pid } = await driver.spawn(spec);
      await expect(driver.stop(id, { graceSeconds: 0 })).resolves.toEqual({ serverId: id, powerState: PowerState.Shutdown });
      await expect(driver.stop(id, { graceSeconds: 0 })).resolves.toEqual({ serverId: id, powerState: PowerState.Shutdown });
      const started = await driver.start(spec);
      expect(started).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
      expect(started.pid).not.toBe(pid);
      await expect(driver.start(spec)).resolves.toEqual(started);
      expect(changes.map((c) => [c.powerState, c.reason])).toEqual([
        [PowerState.Running, 'spawned'],
        [PowerState.Shutdown, 'stop'],
        [PowerState.Running, 'start'],
      ]);
    });

    it('reboot HARD keeps the pid and reports a reset; SOFT ends running', async () => {
      const { pid } = await driver.spawn(spec);
      await expect(driver.reboot(id, { type: 'HARD', graceSeconds: 0 })).resolves.toMatchObject({ powerState: PowerState.Running, pid });
      expect(changes.at(-1)?.reason).toBe('RESET:host-qmp-system-reset');
      await expect(driver.reboot(id, { type: 'SOFT', graceSeconds: 1 })).resolves.toMatchObject({ powerState: PowerState.Running });
    });

    it('pause and unpause, idempotently', async () => {
      await driver.spawn(spec);
      await expect(driver.pause(id)).resolves.toMatchObject({ powerState: PowerState.Paused, qmpStatus: 'paused' });
      await expect(driver.pause(id)).resolves.toMatchObject({ powerState: PowerState.Paused });
      await expect(driver.unpause(id)).resolves.toMatchObject({ powerState: PowerState.Running });
      await expect(driver.unpause(id)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(changes.map((c) => c.powerState)).toEqual([PowerState.Running, PowerState.Paused, PowerState.Running]);
    });

    it('suspend keeps the instance with no pid; a restarted agent adopts it suspended; resume runs it', async () => {
      const host = new FakeHost();
      const before = new FakeDriver({ host });
      await before.spawn(spec);
      await expect(before.suspend(id)).resolves.toEqual({ serverId: id, powerState: PowerState.Suspended });
      await expect(before.spawn(spec)).rejects.toBeInstanceOf(ConflictError);
      await expect(before.start(spec)).rejects.toBeInstanceOf(ConflictError);
      const after = new FakeDriver({ host });
      expect(await after.adopt()).toEqual([{ serverId: id, powerState: PowerState.Suspended }]);
      await expect(after.resume(spec)).resolves.toMatchObject({ powerState: PowerState.Running });
    });

    it.each([
      ['pause a stopped server', async (d: FakeDriver) => d.pause(id)],
      ['unpause a stopped server', async (d: FakeDriver) => d.unpause(id)],
      ['suspend a stopped server', async (d: FakeDriver) => d.suspend(id)],
    ])('refuses to %s', async (_what, op) => {
      await driver.spawn(spec);
      await driver.stop(id, { graceSeconds: 0 });
      await expect(op(driver)).rejects.toBeInstanceOf(ConflictError);
    });

    it('refuses a server it does not know, except start and resume, which boot it from the spec', async () => {
      await expect(driver.stop(id, { graceSeconds: 0 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(driver.pause(id)).rejects.toBeInstanceOf(NotFoundError);
      await expect(driver.resume(spec)).resolves.toMatchObject({ powerState: PowerState.Running });
    });

    it('leaves the instance as it was when an operation fails', async () => {
      await driver.spawn(spec);
      driver.failNext('suspend', new Error('disk full'));
      await expect(driver.suspend(id)).rejects.toThrow('suspend of');
      expect(await driver.status(id)).toMatchObject({ powerState: PowerState.Running });
    });
  });

  describe('simulate', () => {
    it('reports guest events as power-state changes', async () => {
      await driver.spawn(spec);
      driver.simulate(id, PowerState.Crashed, 'GUEST_PANICKED');
      expect(await driver.status(id)).toMatchObject({ powerState: PowerState.Crashed });
      expect(changes.at(-1)).toMatchObject({ serverId: id, powerState: PowerState.Crashed, reason: 'GUEST_PANICKED' });
    });
  });
});
