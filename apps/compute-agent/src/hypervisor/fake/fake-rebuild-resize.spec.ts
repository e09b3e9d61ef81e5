import { ConflictError, InstanceSpec, NotFoundError, PowerState } from '@nubo/contracts';
import { PowerStateChange } from '../hypervisor-driver';
import { FakeDriver } from './fake.driver';

const id = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const image = (sha: string) => ({ id: `img-${sha}`, sha256: sha.repeat(64), sizeBytes: 10, diskFormat: 'qcow2' as const, url: 'http://i/x' });
const spec: InstanceSpec = { serverId: id, vcpus: 1, ramMb: 512, diskGb: 1, image: image('a') };
const bigger: InstanceSpec = { ...spec, vcpus: 2, ramMb: 768, diskGb: 2 };
const run = { powerOn: true, graceSeconds: 0 };
const off = { powerOn: false, graceSeconds: 0 };

describe(`${FakeDriver.name} rebuild and resize`, () => {
  let driver: FakeDriver;
  let changes: PowerStateChange[];

  beforeEach(async () => {
    driver = new FakeDriver();
    changes = [];
    driver.onPowerStateChange((c) => changes.push(c));
    await driver.spawn(spec);
  });

  const guest = () => driver.rebuildResize.guest(id)!;

  describe('rebuild', () => {
    const rebuild = (o: Partial<{ powerOn: boolean; rebuildId: string }> = {}) =>
      driver.rebuild({ ...spec, image: image('b') }, { powerOn: true, graceSeconds: 0, preserveEphemeral: false, rebuildId: 'op-1', ...o });

    it('makes a new disk from the new image and boots a new process', async () => {
      const before = (await driver.status(id)).pid;
      const status = await rebuild();
      expect(status).toMatchObject({ powerState: PowerState.Running });
      expect(status.pid).not.toBe(before);
      expect(guest()).toMatchObject({ diskGeneration: 1, spec: { image: { sha256: 'b'.repeat(64) } } });
    });

    it('does not make the disk twice when the same operation is replayed', async () => {
      await rebuild();
      await rebuild();
      expect(guest().diskGeneration).toBe(1);
      await rebuild({ rebuildId: 'op-2' });
      expect(guest().diskGeneration).toBe(2);
    });

    it('leaves a stopped server stopped', async () => {
      await driver.stop(id, { graceSeconds: 0 });
      await expect(rebuild({ powerOn: false })).resolves.toEqual({ serverId: id, powerState: PowerState.Shutdown });
      expect(guest().diskGeneration).toBe(1);
    });
  });

  describe('resize', () => {
    it('keeps the old spec and disk aside, takes the new shape, and starts again', async () => {
      await expect(driver.resize(bigger, run)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(guest()).toMatchObject({ spec: { vcpus: 2, ramMb: 768, diskGb: 2 }, diskGb: 2, kept: { spec: { vcpus: 1, ramMb: 512 }, diskGb: 1 } });
      expect(changes.map((c) => [c.powerState, c.reason]).slice(-2)).toEqual([
        [PowerState.Shutdown, 'resize'],
        [PowerState.Running, 'resize'],
      ]);
    });

    it('converges when called twice: the backup stays the original, no second restart', async () => {
      await driver.resize(bigger, run);
      const pid = (await driver.status(id)).pid;
      await driver.resize(bigger, run);
      expect((await driver.status(id)).pid).toBe(pid);
      expect(guest().kept?.spec.vcpus).toBe(1);
    });

    it('leaves a stopped server stopped', async () => {
      await driver.stop(id, { graceSeconds: 0 });
      await expect(driver.resize(bigger, off)).resolves.toEqual({ serverId: id, powerState: PowerState.Shutdown });
    });

    it('confirm drops the backup and keeps the guest running', async () => {
      await driver.resize(bigger, run);
      const pid = (await driver.status(id)).pid;
      await expect(driver.confirmResize(id)).resolves.toMatchObject({ powerState: PowerState.Running, pid });
      expect(guest().kept).toBeUndefined();
      await driver.confirmResize(id);
      // Nothing left to revert: the new shape stays.
      await driver.revertResize(id, run);
      expect(guest().spec.vcpus).toBe(2);
    });

    it('revert puts the old spec and disk back, once', async () => {
      await driver.rebuild(spec, { ...run, preserveEphemeral: false, rebuildId: 'r1' });
      await driver.resize(bigger, run);
      await expect(driver.revertResize(id, run)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(guest()).toMatchObject({ spec: { vcpus: 1, ramMb: 512 }, diskGb: 1, diskGeneration: 1 });
      expect(guest().kept).toBeUndefined();
      await driver.revertResize(id, run);
      expect(guest().spec.vcpus).toBe(1);
    });

    it('refuses a suspended server and an unknown one', async () => {
      await driver.suspend(id);
      await expect(driver.resize(bigger, run)).rejects.toBeInstanceOf(ConflictError);
      await expect(driver.resize({ ...bigger, serverId: '00000000-0000-4000-8000-000000000000' }, run)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('fails as injected and changes nothing', async () => {
      driver.rebuildResize.failNext('resize');
      await expect(driver.resize(bigger, run)).rejects.toThrow(/injected failure/);
      expect(guest()).toMatchObject({ spec: { vcpus: 1 }, powerState: PowerState.Running });
      expect(guest().kept).toBeUndefined();
    });
  });
});

describe(`${FakeDriver.name} rebuild of a suspended server`, () => {
  it('drops the saved RAM with the disk and ends as asked', async () => {
    const driver = new FakeDriver();
    await driver.spawn(spec);
    await driver.suspend(id);
    const options = { graceSeconds: 0, preserveEphemeral: false, rebuildId: 'op' };
    await expect(driver.rebuild(spec, { ...options, powerOn: false })).resolves.toEqual({ serverId: id, powerState: PowerState.Shutdown });
  });
});
