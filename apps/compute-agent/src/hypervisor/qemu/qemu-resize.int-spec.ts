/**
 * Cold resize of the QEMU driver against real QEMU and qemu-img: what QEMU itself reports after
 * each step (QMP query-cpus-fast, query-memory-size-summary, query-block on the operators'
 * monitor), the disk's contents (qemu-io), and convergence of a resize called again after a
 * simulated crash. Guests are firmware-only with a disk (an overlay on a 1 MiB raw base served
 * by a local HTTP server). The state dir contains a comma on purpose.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, ImageSource, InstanceSpec, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { isAlive, killQemu } from './qemu-process';
import { keptPaths } from './qemu-resize';
import { QemuDriver } from './qemu.driver';

const accelerator = resolveAccelerator('auto');
const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** qemu-io on a server's overlay (the base by its header name); throws when a read does not match. */
function qemuIo(file: string, command: string): void {
  const out = execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { encoding: 'utf8' });
  if (/verification failed|error/i.test(out)) throw new Error(`qemu-io ${command}: ${out}`);
}

/** The virtual size of an image (-U: QEMU may have it open). */
const virtualSize = (file: string) =>
  (JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' })) as { 'virtual-size': number })['virtual-size'];

/** What QEMU says of the guest's shape, on the operators' monitor. */
async function shape(qmpOps: string): Promise<{ vcpus: number; ramBytes: number; diskBytes: number; status: string }> {
  const qmp = await QmpClient.connect(qmpOps);
  try {
    const cpus = await qmp.execute<unknown[]>('query-cpus-fast');
    const memory = await qmp.execute<{ 'base-memory': number }>('query-memory-size-summary');
    const blocks = await qmp.execute<Array<{ qdev?: string; inserted?: { image: { 'virtual-size': number } } }>>('query-block');
    const disk = blocks.find((b) => b.qdev?.includes('disk0'));
    return { vcpus: cpus.length, ramBytes: memory['base-memory'], diskBytes: disk?.inserted?.image['virtual-size'] ?? 0, status: (await qmp.queryStatus()).status };
  } finally {
    qmp.close();
  }
}

describe(`${QemuDriver.name} cold resize`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-resize,it-'));
  const work = mkdtempSync(join(tmpdir(), 'nubo-resize-src-'));
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];
  let http: Server;
  let base: ImageSource;

  const newDriver = () => {
    const driver = new QemuDriver({ stateDir, accelerator });
    drivers.push(driver);
    return driver;
  };

  /** A server on the base image (read when the spec is, so after beforeAll served it). */
  function newServer(): { id: string; spec: InstanceSpec; paths: ReturnType<typeof instancePaths> } {
    const id = randomUUID();
    serverIds.push(id);
    return {
      id,
      get spec(): InstanceSpec {
        return { serverId: id, vcpus: 1, ramMb: 64, diskGb: 1, image: base };
      },
      paths: instancePaths(stateDir, id),
    };
  }

  const run = { powerOn: true, graceSeconds: 0 };

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    const bytes = Buffer.alloc(MiB, 0xaa);
    http = createServer((req, res) => (req.url === '/base' ? res.writeHead(200, { 'content-length': bytes.length }).end(bytes) : res.writeHead(404).end()));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/base`;
    base = { id: randomUUID(), sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, diskFormat: 'raw', url };
  });

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('resize and revert', () => {
    const server = newServer();
    const bigger = () => ({ ...server.spec, vcpus: 2, ramMb: 128, diskGb: 2 });
    let driver: QemuDriver;
    let pid: number;

    it('resizes a running guest: stopped, disk kept aside and grown, started with the new vCPUs and RAM', async () => {
      driver = newDriver();
      await driver.spawn(server.spec);
      // Data the guest "wrote" before the resize, to find again after the revert.
      await driver.stop(server.id, { graceSeconds: 0 });
      qemuIo(server.paths.disk, 'write -P 0x11 1M 64k');
      pid = (await driver.start(server.spec)).pid!;
      expect(await shape(server.paths.qmpOps)).toEqual({ vcpus: 1, ramBytes: 64 * MiB, diskBytes: GiB, status: 'running' });

      const status = await driver.resize(bigger(), run);
      expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
      expect(status.pid).not.toBe(pid);
      expect(isAlive(pid, server.id)).toBe(false);
      expect(await shape(server.paths.qmpOps)).toEqual({ vcpus: 2, ramBytes: 128 * MiB, diskBytes: 2 * GiB, status: 'running' });
      const kept = keptPaths(server.paths);
      expect(virtualSize(kept.disk)).toBe(GiB);
      expect(JSON.parse(readFileSync(kept.spec, 'utf8'))).toMatchObject({ vcpus: 1, ramMb: 64, diskGb: 1 });
      expect(JSON.parse(readFileSync(server.paths.spec, 'utf8'))).toMatchObject({ vcpus: 2, ramMb: 128, diskGb: 2 });
      pid = status.pid!;
    });

    it('converges when called again (by a restarted agent): no second restart, the disk not grown twice, the backup untouched', async () => {
      await driver.close();
      driver = newDriver();
      const again = await driver.resize(bigger(), run);
      expect(again.pid).toBe(pid);
      expect(virtualSize(keptPaths(server.paths).disk)).toBe(GiB);
      expect((await shape(server.paths.qmpOps)).diskBytes).toBe(2 * GiB);
    });

    it('reverts: the old vCPUs, RAM, disk size and disk contents are back, the kept files gone', async () => {
      // The guest writes over the data while resized; the revert must bring the old bytes back.
      await driver.stop(server.id, { graceSeconds: 0 });
      qemuIo(server.paths.disk, 'write -P 0x22 1M 64k');
      await driver.start(bigger());

      const status = await driver.revertResize(server.id, run);
      expect(status).toMatchObject({ powerState: PowerState.Running });
      expect(await shape(server.paths.qmpOps)).toEqual({ vcpus: 1, ramBytes: 64 * MiB, diskBytes: GiB, status: 'running' });
      expect(existsSync(keptPaths(server.paths).disk)).toBe(false);
      expect(existsSync(keptPaths(server.paths).spec)).toBe(false);
      await driver.stop(server.id, { graceSeconds: 0 });
      qemuIo(server.paths.disk, 'read -P 0x11 1M 64k');
      // A second revert has nothing to put back: it only powers the guest as asked.
      await expect(driver.revertResize(server.id, run)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect((await shape(server.paths.qmpOps)).vcpus).toBe(1);
      await driver.destroy(server.id);
    });
  });

  describe('confirm', () => {
    it('drops the kept disk and spec; the guest runs on untouched', async () => {
      const server = newServer();
      const driver = newDriver();
      await driver.spawn(server.spec);
      const resized = await driver.resize({ ...server.spec, vcpus: 2 }, run);
      const status = await driver.confirmResize(server.id);
      expect(status).toMatchObject({ powerState: PowerState.Running, pid: resized.pid });
      expect(existsSync(keptPaths(server.paths).disk)).toBe(false);
      expect(existsSync(keptPaths(server.paths).spec)).toBe(false);
      await expect(driver.confirmResize(server.id)).resolves.toMatchObject({ pid: resized.pid });
      expect((await shape(server.paths.qmpOps)).vcpus).toBe(2);
      await driver.destroy(server.id);
    });
  });

  describe('an ephemeral disk', () => {
    it('is kept aside and grown with the root disk, and comes back on revert', async () => {
      const server = newServer();
      const driver = newDriver();
      const spec = { ...server.spec, ephemeralGb: 1 };
      await driver.spawn(spec);
      await driver.stop(server.id, { graceSeconds: 0 });
      qemuIo(server.paths.ephemeral, 'write -P 0x66 0 64k');
      await driver.resize({ ...spec, ephemeralGb: 2, diskGb: 2 }, run);
      expect(virtualSize(server.paths.ephemeral)).toBe(2 * GiB);
      expect(virtualSize(keptPaths(server.paths).ephemeral)).toBe(GiB);
      await driver.revertResize(server.id, { powerOn: false, graceSeconds: 0 });
      expect(virtualSize(server.paths.ephemeral)).toBe(GiB);
      qemuIo(server.paths.ephemeral, 'read -P 0x66 0 64k');
      expect(existsSync(keptPaths(server.paths).ephemeral)).toBe(false);
      await driver.destroy(server.id);
    });
  });

  describe('a stopped server', () => {
    it('stays stopped through resize and revert', async () => {
      const server = newServer();
      const driver = newDriver();
      await driver.spawn(server.spec);
      await driver.stop(server.id, { graceSeconds: 0 });
      await expect(driver.resize({ ...server.spec, diskGb: 3 }, { powerOn: false, graceSeconds: 0 })).resolves.toMatchObject({
        serverId: server.id,
        powerState: PowerState.Shutdown,
      });
      expect(pidsNaming(server.id)).toEqual([]);
      expect(virtualSize(server.paths.disk)).toBe(3 * GiB);
      await driver.revertResize(server.id, { powerOn: false, graceSeconds: 0 });
      expect(virtualSize(server.paths.disk)).toBe(GiB);
      expect(pidsNaming(server.id)).toEqual([]);
      await driver.destroy(server.id);
    });

    it('refuses a suspended one', async () => {
      const server = newServer();
      const driver = newDriver();
      await driver.spawn({ ...server.spec, image: undefined, diskGb: 0 });
      await driver.suspend(server.id);
      await expect(driver.resize({ ...server.spec, image: undefined, diskGb: 0, vcpus: 2 }, run)).rejects.toBeInstanceOf(ConflictError);
      await driver.destroy(server.id);
    });
  });

  describe('after a crash', () => {
    it('a resize that died after keeping disk and spec aside carries on from there, once', async () => {
      const server = newServer();
      const driver = newDriver();
      await driver.spawn(server.spec);
      await driver.stop(server.id, { graceSeconds: 0 });
      qemuIo(server.paths.disk, 'write -P 0x33 1M 64k');
      // What the first call left: the kept copies (and a half-written temp copy of the disk).
      const kept = keptPaths(server.paths);
      copyFileSync(server.paths.disk, kept.disk);
      copyFileSync(server.paths.spec, kept.spec);
      writeFileSync(`${kept.disk}.tmp`, 'half a copy');
      const original = readFileSync(kept.disk);
      // Written after the copy: a resize that copied again would keep these bytes instead.
      qemuIo(server.paths.disk, 'write -P 0x44 1M 64k');

      // The agent restarted: a new driver adopts the instance from its directory.
      await driver.close();
      const restarted = newDriver();
      const status = await restarted.resize({ ...server.spec, vcpus: 2, ramMb: 96, diskGb: 2 }, run);
      expect(status.powerState).toBe(PowerState.Running);
      expect(await shape(server.paths.qmpOps)).toEqual({ vcpus: 2, ramBytes: 96 * MiB, diskBytes: 2 * GiB, status: 'running' });
      expect(readFileSync(kept.disk).equals(original)).toBe(true);
      expect(virtualSize(kept.disk)).toBe(GiB);

      await restarted.revertResize(server.id, { powerOn: false, graceSeconds: 0 });
      expect(virtualSize(server.paths.disk)).toBe(GiB);
      qemuIo(server.paths.disk, 'read -P 0x33 1M 64k');
      await restarted.destroy(server.id);
    });

    it('a resize that died while copying the disk aside starts over cleanly', async () => {
      const server = newServer();
      const driver = newDriver();
      await driver.spawn(server.spec);
      writeFileSync(`${keptPaths(server.paths).disk}.tmp`, 'garbage');
      await driver.resize({ ...server.spec, diskGb: 2 }, run);
      expect(virtualSize(keptPaths(server.paths).disk)).toBe(GiB);
      expect(existsSync(`${keptPaths(server.paths).disk}.tmp`)).toBe(false);
      await driver.destroy(server.id);
      expect(existsSync(server.paths.dir)).toBe(false);
    });
  });
});
