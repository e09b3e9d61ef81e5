/**
 * The memory balloon against real QEMU: the test guest (deploy/guest-image, which loads
 * virtio_balloon) booted by the driver under TCG; a target set through the driver must become the
 * guest's `actual` RAM, as the driver and, independently, the operator QMP socket (qmp-ops.sock)
 * report it. Needs root (the guest image build installs what it lacks with apt-get).
 */
import { Logger } from '@nestjs/common';
import { ConflictError, ImageSource, PowerState, ValidationError } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';
import { buildGuestImage, serveGuestImage } from '../../../../../test/support/qemu-guest-fixture';

const MiB = 2 ** 20;
/** The guest's real RAM: a TCG guest gets 8 KiB less than its flavor (qemu-migration-quirks.ts). */
const RAM = 512 * MiB - 8 * 1024;
const isRoot = process.getuid?.() === 0;

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined | false;
  while (Date.now() < deadline) {
    last = await fn();
    if (last !== undefined && last !== false) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

(isRoot ? describe : describe.skip)(`${QemuDriver.name} memory balloon of the test guest under TCG (needs root)`, () => {
  jest.setTimeout(600_000);
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-balloon-it-'));
  const serverId = randomUUID();
  let driver: QemuDriver;
  let served: Awaited<ReturnType<typeof serveGuestImage>> | undefined;
  let image: ImageSource;

  /** query-balloon on the operator socket, independently of the driver's monitor. */
  async function opsActual(): Promise<number> {
    const qmp = await QmpClient.connect(instancePaths(stateDir, serverId).qmpOps);
    try {
      return (await qmp.execute<{ actual: number }>('query-balloon')).actual;
    } finally {
      qmp.close();
    }
  }

  const converged = (bytes: number) =>
    until(`actual ${bytes / MiB} MiB`, async () => (await driver.balloonInfo(serverId)).actualBytes === bytes, 180_000);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    served = await serveGuestImage(await buildGuestImage());
    image = served.image;
    driver = new QemuDriver({ stateDir, accelerator: resolveAccelerator('auto') });
    await driver.spawn({ serverId, vcpus: 1, ramMb: 512, diskGb: 1, image, accelerator: 'tcg' });
    // The marker comes after /init loaded the guest's modules, virtio_balloon among them.
    await until('the guest to boot', async () => (await driver.consoleLog(serverId, {})).includes('NUBO-GUEST: booted'), 300_000);
  });

  afterAll(async () => {
    await driver?.destroy(serverId).catch(() => undefined);
    await driver?.close();
    for (const pid of pidsNaming(serverId)) await killQemu(pid, serverId);
    await served?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts with the whole flavor RAM and no target', async () => {
    await expect(driver.balloonInfo(serverId)).resolves.toEqual({ actualBytes: RAM, maxBytes: 512 * MiB });
    expect(await opsActual()).toBe(RAM);
  });

  it('inflates to a lower target: actual converges to it, as the operator socket also sees', async () => {
    await expect(driver.balloonSet(serverId, { targetBytes: 256 * MiB })).resolves.toMatchObject({ maxBytes: 512 * MiB, targetBytes: 256 * MiB });
    await converged(256 * MiB);
    expect(await opsActual()).toBe(256 * MiB);
    // The guest lives on with less RAM: its console still answers, its QEMU still runs.
    expect((await driver.status(serverId)).powerState).toBe(PowerState.Running);
  });

  it('deflates back to the flavor RAM', async () => {
    await driver.balloonSet(serverId, { targetBytes: 512 * MiB });
    await converged(RAM);
    expect(await opsActual()).toBe(RAM);
    await expect(driver.balloonInfo(serverId)).resolves.toEqual({ actualBytes: RAM, maxBytes: 512 * MiB, targetBytes: 512 * MiB });
  });

  it.each([
    ['below a quarter of the RAM', 127 * MiB],
    ['above the RAM', 513 * MiB],
    ['zero', 0],
  ])('refuses a target %s and leaves the balloon as it was', async (_what, targetBytes) => {
    await expect(driver.balloonSet(serverId, { targetBytes })).rejects.toBeInstanceOf(ValidationError);
    expect(await opsActual()).toBe(RAM);
  });

  it('refuses to set a paused guest (409) but still answers its balloon', async () => {
    await driver.pause(serverId);
    try {
      await expect(driver.balloonSet(serverId, { targetBytes: 256 * MiB })).rejects.toBeInstanceOf(ConflictError);
      await expect(driver.balloonInfo(serverId)).resolves.toMatchObject({ actualBytes: RAM });
    } finally {
      await driver.unpause(serverId);
    }
  });
});
