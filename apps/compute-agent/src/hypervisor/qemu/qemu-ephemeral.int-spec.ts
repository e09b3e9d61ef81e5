/**
 * Ephemeral disks (the flavor's OS-FLV-EXT-DATA:ephemeral) against real QEMU and qemu-img: made on
 * the first spawn, attached as a second disk, kept by stop/start, suspend/resume and an agent
 * restart, removed by destroy. TCG guests with a small generated qcow2 root disk.
 */
import { Logger } from '@nestjs/common';
import { ImageSource, InstanceSpec, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveImage } from '../../../../../test/support/qemu-guest-fixture';
import { resolveAccelerator } from './accelerator';
import { NODE, instancePaths } from './qemu-argv';
import { killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const GiB = 2 ** 30;

interface BlockInfo {
  device: string;
  qdev?: string;
  inserted?: { 'node-name': string; image: { 'virtual-size': number } };
}

/** qemu-io on an image file; throws when a read does not match its pattern. */
function qemuIo(file: string, command: string): void {
  const out = execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { encoding: 'utf8' });
  if (/verification failed|error/i.test(out)) throw new Error(`qemu-io ${command}: ${out}`);
}

describe(`${QemuDriver.name} ephemeral disks`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-ephemeral,it-'));
  const work = mkdtempSync(join(tmpdir(), 'nubo-ephemeral-src-'));
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];
  let image: ImageSource;
  let closeImage: () => Promise<void>;

  function newDriver(): QemuDriver {
    const driver = new QemuDriver({ stateDir, accelerator: resolveAccelerator('auto') });
    drivers.push(driver);
    return driver;
  }

  function newSpec(extra: Partial<InstanceSpec> = {}): InstanceSpec {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { serverId, vcpus: 1, ramMb: 64, diskGb: 1, image, accelerator: 'tcg', ephemeralGb: 1, ...extra };
  }

  async function ops<T>(spec: InstanceSpec, command: string, args?: Record<string, unknown>): Promise<T> {
    const client = await QmpClient.connect(instancePaths(stateDir, spec.serverId).qmpOps);
    try {
      return await client.execute<T>(command, args);
    } finally {
      client.close();
    }
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    const base = join(work, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, String(64 * 2 ** 20)]);
    ({ image, close: closeImage } = await serveImage(readFileSync(base), 'qcow2'));
  });

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await closeImage?.();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('on virtio-blk', () => {
    let spec: InstanceSpec;
    let inode: number;

    it('spawns with both disks: query-block shows the root disk and a 1 GiB ephemeral disk', async () => {
      spec = newSpec();
      const driver = newDriver();
      await driver.spawn(spec);
      const blocks = await ops<BlockInfo[]>(spec, 'query-block');
      const byNode = new Map(blocks.filter((b) => b.inserted).map((b) => [b.inserted!['node-name'], b]));
      expect(byNode.get(NODE.disk)?.inserted?.image['virtual-size']).toBe(1 * GiB);
      expect(byNode.get(NODE.ephemeral)?.inserted?.image['virtual-size']).toBe(1 * GiB);
      expect(byNode.get(NODE.ephemeral)?.qdev).toBe('/machine/peripheral/disk1/virtio-backend');
      const file = instancePaths(stateDir, spec.serverId).ephemeral;
      const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' }));
      expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 1 * GiB });
      expect(info['backing-filename']).toBeUndefined();
      inode = statSync(file).ino;
    });

    it('keeps the ephemeral file and its data across stop/start, suspend/resume and an agent restart', async () => {
      const file = instancePaths(stateDir, spec.serverId).ephemeral;
      const driver = drivers[0];
      await driver.stop(spec.serverId, { graceSeconds: 0 });
      qemuIo(file, 'write -P 0x5a 0 64k');
      await expect(driver.start(spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      await expect(driver.suspend(spec.serverId)).resolves.toMatchObject({ powerState: PowerState.Suspended });
      await expect(driver.resume(spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      await driver.close();
      const restarted = newDriver();
      expect(await restarted.adopt()).toContainEqual(expect.objectContaining({ serverId: spec.serverId, powerState: PowerState.Running }));
      await restarted.stop(spec.serverId, { graceSeconds: 0 });
      expect(statSync(file).ino).toBe(inode);
      qemuIo(file, 'read -P 0x5a 0 64k');
      await restarted.start(spec);
      const blocks = await ops<BlockInfo[]>(spec, 'query-block');
      expect(blocks.find((b) => b.inserted?.['node-name'] === NODE.ephemeral)?.inserted?.image['virtual-size']).toBe(1 * GiB);
    });

    it('is removed with the instance by destroy', async () => {
      const paths = instancePaths(stateDir, spec.serverId);
      expect(await drivers.at(-1)!.destroy(spec.serverId)).toBe(true);
      expect(existsSync(paths.ephemeral)).toBe(false);
      expect(existsSync(paths.dir)).toBe(false);
    });
  });

  it('puts both disks on one virtio-scsi controller for hw_disk_bus=scsi', async () => {
    const spec = newSpec({ diskBus: 'scsi', ephemeralGb: 2 });
    const driver = newDriver();
    await driver.spawn(spec);
    const peripherals = await ops<Array<{ name: string; type: string }>>(spec, 'qom-list', { path: '/machine/peripheral' });
    expect(peripherals).toEqual(
      expect.arrayContaining([
        { name: 'scsi0', type: 'child<virtio-scsi-pci>' },
        { name: 'disk0', type: 'child<scsi-hd>' },
        { name: 'disk1', type: 'child<scsi-hd>' },
      ]),
    );
    const blocks = await ops<BlockInfo[]>(spec, 'query-block');
    expect(blocks.find((b) => b.inserted?.['node-name'] === NODE.ephemeral)?.inserted?.image['virtual-size']).toBe(2 * GiB);
    expect(await driver.destroy(spec.serverId)).toBe(true);
  });
});
