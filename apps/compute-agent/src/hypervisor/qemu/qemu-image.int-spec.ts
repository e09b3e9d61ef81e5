import { pidsNaming } from '@nubo/testing';
/**
 * Servers with a root disk from an image, against real QEMU and qemu-img: images are served by a
 * local HTTP server, cached once per host, and put under a qcow2 overlay per server.
 */
import { Logger } from '@nestjs/common';
import { ImageSource, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorError } from '../hypervisor-driver';
import { resolveAccelerator } from './accelerator';
import { NODE, instancePaths } from './qemu-argv';
import { killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const accelerator = resolveAccelerator('auto');
const GiB = 2 ** 30;

const qemuPidsOf = pidsNaming;

interface BlockInfo {
  inserted?: {
    'node-name': string;
    file: string;
    drv: string;
    ro: boolean;
    backing_file?: string;
    image: { format: string; 'virtual-size': number; 'backing-filename-format'?: string; 'backing-image'?: { filename: string; format: string } };
  };
}

describe(`${QemuDriver.name} with images`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-image,it-'));
  const work = mkdtempSync(join(tmpdir(), 'nubo-image-src-'));
  const files = new Map<string, Buffer>();
  const requests: string[] = [];
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];
  let http: Server;
  let baseUrl: string;

  /** An image served at /<name>, described as the control plane would. */
  function serve(name: string, bytes: Buffer, diskFormat: ImageSource['diskFormat'], sha256?: string): ImageSource {
    files.set(`/${name}`, bytes);
    return {
      id: randomUUID(),
      sha256: sha256 ?? createHash('sha256').update(bytes).digest('hex'),
      sizeBytes: bytes.length,
      diskFormat,
      url: `${baseUrl}/${name}`,
    };
  }

  function newServer(image: ImageSource, diskGb = 1) {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { id: serverId, spec: { serverId, vcpus: 1, ramMb: 64, diskGb, image }, paths: instancePaths(stateDir, serverId) };
  }

  function newDriver(): QemuDriver {
    const driver = new QemuDriver({ stateDir, accelerator });
    drivers.push(driver);
    return driver;
  }

  async function queryBlock(qmpOps: string): Promise<BlockInfo[]> {
    const ops = await QmpClient.connect(qmpOps);
    try {
      return await ops.execute<BlockInfo[]>('query-block');
    } finally {
      ops.close();
    }
  }

  const cacheFiles = () => (existsSync(join(stateDir, 'images')) ? readdirSync(join(stateDir, 'images')) : []);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    http = createServer((req, res) => {
      requests.push(req.url ?? '');
      const body = files.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of qemuPidsOf(id)) await killQemu(pid, id);
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('a raw image', () => {
    const raw = Buffer.alloc(2 ** 20, 0);
    let image: ImageSource;
    let server: ReturnType<typeof newServer>;
    let driver: QemuDriver;

    beforeAll(() => {
      image = serve('raw-1m', raw, 'raw');
      server = newServer(image);
      driver = newDriver();
    });

    it('spawns with the disk attached: a qcow2 overlay backed by the cached file, grown to the flavor', async () => {
      const status = await driver.spawn(server.spec);
      expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
      const cached = join(stateDir, 'images', image.sha256);
      expect(readFileSync(cached).equals(raw)).toBe(true);
      expect(driver.images.downloads).toBe(1);

      const disk = (await queryBlock(server.paths.qmpOps)).find((b) => b.inserted?.['node-name'] === NODE.disk)?.inserted;
      expect(disk).toMatchObject({ file: server.paths.disk, drv: 'qcow2', ro: false, backing_file: cached });
      expect(disk?.image).toMatchObject({ format: 'qcow2', 'virtual-size': GiB, 'backing-filename-format': 'raw' });
      expect(disk?.image['backing-image']).toMatchObject({ filename: cached, format: 'raw' });
    });

    it('keeps the disk across stop and start', async () => {
      const inode = statSync(server.paths.disk).ino;
      await driver.stop(server.id, { graceSeconds: 0 });
      expect(statSync(server.paths.disk).ino).toBe(inode);
      await expect(driver.start(server.spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(statSync(server.paths.disk).ino).toBe(inode);
      expect(driver.images.downloads).toBe(1);
    });

    it('suspends and resumes with the disk attached', async () => {
      await expect(driver.suspend(server.id)).resolves.toMatchObject({ powerState: PowerState.Suspended });
      await expect(driver.resume(server.spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      const disk = (await queryBlock(server.paths.qmpOps)).find((b) => b.inserted?.['node-name'] === NODE.disk);
      expect(disk?.inserted?.file).toBe(server.paths.disk);
    });

    it('destroy removes the overlay and keeps the cached base', async () => {
      expect(await driver.destroy(server.id)).toBe(true);
      expect(existsSync(server.paths.disk)).toBe(false);
      expect(existsSync(join(stateDir, 'images', image.sha256))).toBe(true);
    });
  });

  it('downloads an image once for two servers spawned at the same time', async () => {
    const qcow2Path = join(work, 'small.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2Path, '64M']);
    const image = serve('small-qcow2', readFileSync(qcow2Path), 'qcow2');
    const a = newServer(image, 0);
    const b = newServer(image, 0);
    const driver = newDriver();
    const before = requests.length;
    const [sa, sb] = await Promise.all([driver.spawn(a.spec), driver.spawn(b.spec)]);
    expect([sa.powerState, sb.powerState]).toEqual([PowerState.Running, PowerState.Running]);
    expect(driver.images.downloads).toBe(1);
    expect(requests.slice(before)).toEqual(['/small-qcow2']);
    for (const server of [a, b]) {
      const disk = (await queryBlock(server.paths.qmpOps)).find((d) => d.inserted?.['node-name'] === NODE.disk)?.inserted;
      // diskGb 0: the overlay has the image's own virtual size.
      expect(disk?.image).toMatchObject({ format: 'qcow2', 'virtual-size': 64 * 2 ** 20 });
      expect(disk?.image['backing-image']).toMatchObject({ filename: join(stateDir, 'images', image.sha256), format: 'qcow2' });
      expect(await driver.destroy(server.id)).toBe(true);
    }
  });

  describe('a bad image', () => {
    it('with a wrong sha256 fails the spawn and leaves nothing: no directory, no process, no file', async () => {
      const bytes = Buffer.alloc(4096, 7);
      const image = serve('wrong-sum', bytes, 'raw', createHash('sha256').update('something else').digest('hex'));
      const server = newServer(image);
      const before = cacheFiles();
      const error = await newDriver().spawn(server.spec).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HypervisorError);
      expect((error as Error).message).toMatch(/sha256 mismatch/);
      expect(existsSync(server.paths.dir)).toBe(false);
      expect(qemuPidsOf(server.id)).toEqual([]);
      expect(cacheFiles()).toEqual(before);
    });

    it('a qcow2 pointing at a host file (backing file) is refused before QEMU sees it', async () => {
      const evil = join(work, 'evil.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/hostname', evil, '1M']);
      const server = newServer(serve('evil', readFileSync(evil), 'qcow2'));
      await expect(newDriver().spawn(server.spec)).rejects.toThrow(/backing file/);
      expect(existsSync(server.paths.dir)).toBe(false);
      expect(qemuPidsOf(server.id)).toEqual([]);
    });

    it('a qcow2 described as raw is attached as raw bytes, never parsed as qcow2', async () => {
      const evil = join(work, 'evil-as-raw.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/hostname', evil, '1M']);
      const server = newServer(serve('evil-as-raw', readFileSync(evil), 'raw'));
      const driver = newDriver();
      await driver.spawn(server.spec);
      const disk = (await queryBlock(server.paths.qmpOps)).find((d) => d.inserted?.['node-name'] === NODE.disk)?.inserted;
      expect(disk?.image['backing-image']).toMatchObject({ format: 'raw' });
      expect(await driver.destroy(server.id)).toBe(true);
    });
  });

  it('attaches an ISO read-only as a CD-ROM, with no overlay', async () => {
    const image = serve('disc.iso', Buffer.alloc(2 ** 20, 0), 'iso');
    const server = newServer(image);
    const driver = newDriver();
    await expect(driver.spawn(server.spec)).resolves.toMatchObject({ powerState: PowerState.Running });
    const cdrom = (await queryBlock(server.paths.qmpOps)).find((d) => d.inserted?.['node-name'] === NODE.cdrom)?.inserted;
    expect(cdrom).toMatchObject({ file: join(stateDir, 'images', image.sha256), drv: 'raw', ro: true });
    expect(existsSync(server.paths.disk)).toBe(false);
    expect(await driver.destroy(server.id)).toBe(true);
  });
});
