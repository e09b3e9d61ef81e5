/**
 * Snapshots, console logs, per-server accelerators and image cache eviction of the QEMU driver,
 * against real QEMU and qemu-img. Base images are served, and snapshots received, by a local
 * HTTP server. A snapshot must stand alone (no backing file) and hold what the guest sees: the
 * base's data and the writes in the overlay. The state dir contains a comma on purpose.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, ImageSource, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { IncomingMessage, Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorError } from '../hypervisor-driver';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';
import { buildGuestImage, serveGuestImage } from '../../../../../test/support/qemu-guest-fixture';

const accelerator = resolveAccelerator('auto');
const MiB = 2 ** 20;

/** qemu-io on an image file (with its chain); throws when a read does not match its pattern. */
function qemuIo(file: string, ...commands: string[]): string {
  const out = execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), file], { encoding: 'utf8' });
  if (/verification failed|error/i.test(out)) throw new Error(`qemu-io ${commands.join('; ')}: ${out}`);
  return out;
}

function qemuImgInfo(file: string): Record<string, unknown> {
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' }));
}

/** qemu-img compare: true when the guest-visible contents are equal (-U: QEMU may hold the first). */
function sameContent(disk: string, snapshot: string): boolean {
  try {
    execFileSync('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', disk, snapshot], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe(`${QemuDriver.name} snapshots, console logs, accelerators and image eviction`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-snap,it-'));
  const work = mkdtempSync(join(tmpdir(), 'nubo-snap-src-'));
  const files = new Map<string, Buffer>();
  const uploads = new Map<string, { headers: IncomingMessage['headers']; path: string }>();
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];
  let http: Server;
  let baseUrl: string;
  let base: ImageSource;

  function serve(name: string, bytes: Buffer, diskFormat: ImageSource['diskFormat']): ImageSource {
    files.set(`/${name}`, bytes);
    return { id: randomUUID(), sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, diskFormat, url: `${baseUrl}/${name}` };
  }

  function newServer(image?: ImageSource, extra: { accelerator?: 'kvm' | 'tcg' } = {}) {
    const serverId = randomUUID();
    serverIds.push(serverId);
    const spec = { serverId, vcpus: 1, ramMb: 64, diskGb: 0, ...(image ? { image } : {}), ...extra };
    return { id: serverId, spec, paths: instancePaths(stateDir, serverId) };
  }

  function newDriver(options: { kvmAvailable?: () => boolean } = {}): QemuDriver {
    const driver = new QemuDriver({ stateDir, accelerator, ...options });
    drivers.push(driver);
    return driver;
  }

  /** Where the agent is told to PUT a snapshot; the test server keeps it as a file. */
  const target = (name: string, headers: Record<string, string> = { 'x-nubo-caller-project': 'p1' }) => ({
    imageId: randomUUID(),
    upload: { url: `${baseUrl}/upload/${name}`, headers },
  });

  async function hmp(qmpOps: string, command: string): Promise<void> {
    const ops = await QmpClient.connect(qmpOps);
    try {
      await ops.execute('human-monitor-command', { 'command-line': command });
    } finally {
      ops.close();
    }
  }

  async function opsStatus(qmpOps: string): Promise<string> {
    const ops = await QmpClient.connect(qmpOps);
    try {
      return (await ops.queryStatus()).status;
    } finally {
      ops.close();
    }
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    http = createServer((req, res) => {
      const url = req.url ?? '';
      if (req.method === 'PUT' && url === '/refuse') {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'forbidden', message: 'signature expired' }));
        return;
      }
      if (req.method === 'PUT' && url.startsWith('/upload/')) {
        const path = join(work, `received-${url.slice('/upload/'.length)}.qcow2`);
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          writeFileSync(path, Buffer.concat(chunks));
          uploads.set(url.slice('/upload/'.length), { headers: req.headers, path });
          res.writeHead(204).end();
        });
        return;
      }
      const body = files.get(url);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    // A 16 MiB qcow2 base with data of its own at 2 MiB: a snapshot must carry it.
    const basePath = join(work, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', basePath, String(16 * MiB)]);
    qemuIo(basePath, 'write -P 0x11 2M 1M');
    base = serve('base', readFileSync(basePath), 'qcow2');
  });

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('snapshot', () => {
    it('of a stopped server: a standalone qcow2 with the base and overlay data, uploaded with the signed headers', async () => {
      const driver = newDriver();
      const server = newServer(base);
      await driver.spawn(server.spec);
      await driver.stop(server.id, { graceSeconds: 0 });
      qemuIo(server.paths.disk, 'write -P 0xab 0 1M');

      const t = target('stopped');
      const reply = await driver.snapshot(server.id, t);

      const got = uploads.get('stopped')!;
      expect(got.headers).toMatchObject({ 'x-nubo-caller-project': 'p1', 'content-type': 'application/octet-stream' });
      expect(reply).toEqual({ sizeBytes: statSync(got.path).size, virtualSize: 16 * MiB });
      const info = qemuImgInfo(got.path);
      expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 16 * MiB });
      expect(info['backing-filename']).toBeUndefined();
      expect(sameContent(server.paths.disk, got.path)).toBe(true);
      qemuIo(got.path, 'read -P 0xab 0 1M', 'read -P 0x11 2M 1M', 'read -P 0 4M 1M');
      // The copy left the host; the server is as it was.
      expect(existsSync(server.paths.snapshot)).toBe(false);
      expect((await driver.status(server.id)).powerState).toBe(PowerState.Shutdown);
      expect(pidsNaming(server.id)).toEqual([]);
    });

    it('of a running server: point-in-time through QMP, while the guest keeps running in the same QEMU', async () => {
      const driver = newDriver();
      const server = newServer(base);
      const { pid } = await driver.spawn(server.spec);
      // A write through the guest's own block backend, as a guest would do it.
      await hmp(server.paths.qmpOps, 'qemu-io -d disk0/virtio-backend "write -P 0xcd 4M 1M"');

      await driver.snapshot(server.id, target('running'));

      const got = uploads.get('running')!;
      expect(qemuImgInfo(got.path)['backing-filename']).toBeUndefined();
      qemuIo(got.path, 'read -P 0xcd 4M 1M', 'read -P 0x11 2M 1M');
      expect(await driver.status(server.id)).toMatchObject({ powerState: PowerState.Running, pid });
      expect(await opsStatus(server.paths.qmpOps)).toBe('running');
      expect(existsSync(server.paths.snapshot)).toBe(false);
      // QEMU keeps qcow2 metadata in memory: the disk file is compared once QEMU flushed it on exit.
      await driver.stop(server.id, { graceSeconds: 0 });
      expect(sameContent(server.paths.disk, got.path)).toBe(true);
    });

    it('of a paused server leaves it paused', async () => {
      const driver = newDriver();
      const server = newServer(base);
      await driver.spawn(server.spec);
      await driver.pause(server.id);
      await driver.snapshot(server.id, target('paused'));
      expect(qemuImgInfo(uploads.get('paused')!.path)['backing-filename']).toBeUndefined();
      expect(await opsStatus(server.paths.qmpOps)).toBe('paused');
      // A second snapshot works too: nothing of the first is left in QEMU.
      await driver.snapshot(server.id, target('paused-again'));
      expect(sameContent(uploads.get('paused')!.path, uploads.get('paused-again')!.path)).toBe(true);
    });

    it('fails when the upload is refused, leaves no copy, and the guest runs on', async () => {
      const driver = newDriver();
      const server = newServer(base);
      const { pid } = await driver.spawn(server.spec);
      const refused = { imageId: randomUUID(), upload: { url: `${baseUrl}/refuse`, headers: {} } };
      const error = await driver.snapshot(server.id, refused).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HypervisorError);
      expect((error as Error).message).toMatch(/HTTP 403: signature expired/);
      expect(existsSync(server.paths.snapshot)).toBe(false);
      expect(await driver.status(server.id)).toMatchObject({ powerState: PowerState.Running, pid });
    });

    it('refuses a server with no disk of its own', async () => {
      const driver = newDriver();
      const server = newServer();
      await driver.spawn(server.spec);
      await expect(driver.snapshot(server.id, target('none'))).rejects.toBeInstanceOf(ConflictError);
    });
  });

  describe('consoleLog', () => {
    it('answers the tail of the serial log, also once the server is stopped', async () => {
      const driver = newDriver();
      const server = newServer();
      await driver.spawn(server.spec);
      await driver.stop(server.id, { graceSeconds: 0 });
      appendFileSync(server.paths.console, 'first\r\nsecond\nNUBO-GUEST: booted\n');
      await expect(driver.consoleLog(server.id, { lines: 2 })).resolves.toBe('second\nNUBO-GUEST: booted\n');
      await expect(driver.consoleLog(server.id, {})).resolves.toMatch(/first\nsecond\nNUBO-GUEST: booted\n$/);
      await expect(driver.consoleLog(randomUUID(), {})).rejects.toThrow(/not on this host/);
    });
  });

  describe('accelerator', () => {
    const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

    it('runs a server whose spec asks for TCG under TCG, whatever the host default', async () => {
      const driver = newDriver();
      const server = newServer(undefined, { accelerator: 'tcg' });
      const { pid } = await driver.spawn(server.spec);
      const argv = argvOf(pid!);
      expect(argv[argv.indexOf('-accel') + 1]).toBe('tcg');
    });

    it('refuses KVM on a host without it, leaving nothing behind', async () => {
      const driver = newDriver({ kvmAvailable: () => false });
      const server = newServer(undefined, { accelerator: 'kvm' });
      await expect(driver.spawn(server.spec)).rejects.toThrow(/hypervisor_type=kvm.*\/dev\/kvm/);
      expect(existsSync(server.paths.dir)).toBe(false);
      expect(pidsNaming(server.id)).toEqual([]);
    });
  });

  describe('evictUnusedImages', () => {
    it('with a TTL of 0, removes a base no instance uses and keeps the one a stopped server still needs', async () => {
      const driver = newDriver();
      const other = serve('other', Buffer.alloc(MiB, 0), 'raw');
      const keeper = newServer(base);
      const leaver = newServer(other);
      await driver.spawn(keeper.spec);
      await driver.stop(keeper.id, { graceSeconds: 0 });
      await driver.spawn(leaver.spec);
      await driver.destroy(leaver.id);
      await new Promise((resolve) => setTimeout(resolve, 10));

      await expect(driver.evictUnusedImages({ ttlMs: 0 })).resolves.toEqual([other.sha256]);
      const cached = readdirSync(join(stateDir, 'images'));
      expect(cached).toContain(base.sha256);
      expect(cached).not.toContain(other.sha256);
      // The kept base still boots its server.
      await expect(driver.start(keeper.spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(await driver.imageCacheStats()).toMatchObject({ images: cached.filter((n) => /^[0-9a-f]{64}$/.test(n)).length });
    });
  });
});

/** The test guest (deploy/guest-image) booted by the driver under TCG, seen through consoleLog. */
const isRoot = process.getuid?.() === 0;

(isRoot ? describe : describe.skip)(`${QemuDriver.name} booting the test guest under TCG`, () => {
  jest.setTimeout(600_000);
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-guest-it-'));
  const serverIds: string[] = [];
  let driver: QemuDriver;
  let served: Awaited<ReturnType<typeof serveGuestImage>> | undefined;
  let image: ImageSource;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    served = await serveGuestImage(await buildGuestImage());
    image = served.image;
    driver = new QemuDriver({ stateDir, accelerator: resolveAccelerator('auto') });
  });

  afterAll(async () => {
    await driver?.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await served?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('boots from its disk and says so on the console log', async () => {
    const serverId = randomUUID();
    serverIds.push(serverId);
    await driver.spawn({ serverId, vcpus: 1, ramMb: 256, diskGb: 1, image, accelerator: 'tcg' });
    const deadline = Date.now() + 300_000;
    let output = '';
    while (!output.includes('NUBO-GUEST: booted') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      output = await driver.consoleLog(serverId, {});
    }
    expect(output).toContain('NUBO-GUEST: booted');
    // Nova's filter: no control characters but tab and newline reach the caller.
    expect(output).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    const last = await driver.consoleLog(serverId, { lines: 1 });
    expect(last.length).toBeGreaterThan(0);
    expect(last.replace(/\n$/, '')).not.toContain('\n');
  });
});
