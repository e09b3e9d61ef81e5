/**
 * Rebuild of the QEMU driver against real QEMU and qemu-img: the root disk is made anew from the
 * new image (what the guest wrote is gone, the new image's bytes are there), the guest boots again
 * or stays off, and a replay of the same operation makes no second disk. Bases are 1 MiB raw
 * files of one byte value each, served by a local HTTP server.
 */
import { Logger } from '@nestjs/common';
import { ImageSource, InstanceSpec, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { isAlive, killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const accelerator = resolveAccelerator('auto');
const MiB = 2 ** 20;

function qemuIo(file: string, command: string): void {
  const out = execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { encoding: 'utf8' });
  if (/verification failed|error/i.test(out)) throw new Error(`qemu-io ${command}: ${out}`);
}

async function qmpStatus(qmpOps: string): Promise<string> {
  const qmp = await QmpClient.connect(qmpOps);
  try {
    return (await qmp.queryStatus()).status;
  } finally {
    qmp.close();
  }
}

describe(`${QemuDriver.name} rebuild`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-rebuild,it-'));
  const files = new Map<string, Buffer>();
  const serverId = randomUUID();
  const paths = instancePaths(stateDir, serverId);
  let http: Server;
  let driver: QemuDriver;
  const images: Record<'a' | 'b', ImageSource> = {} as never;
  const spec = (image: 'a' | 'b'): InstanceSpec => ({ serverId, vcpus: 1, ramMb: 64, diskGb: 1, image: images[image] });
  const options = (o: { powerOn: boolean; rebuildId: string }) => ({ ...o, graceSeconds: 0, preserveEphemeral: false });

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    http = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    for (const [name, byte] of [['a', 0xaa], ['b', 0xbb]] as const) {
      const bytes = Buffer.alloc(MiB, byte);
      files.set(`/${name}`, bytes);
      images[name] = { id: randomUUID(), sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: MiB, diskFormat: 'raw', url: `${baseUrl}/${name}` };
    }
    driver = new QemuDriver({ stateDir, accelerator });
  });

  afterAll(async () => {
    await driver.close();
    for (const pid of pidsNaming(serverId)) await killQemu(pid, serverId);
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('makes the disk anew from the new image and boots it: what the guest wrote is gone', async () => {
    await driver.spawn(spec('a'));
    await driver.stop(serverId, { graceSeconds: 0 });
    qemuIo(paths.disk, 'write -P 0x11 1M 64k');
    const pid = (await driver.start(spec('a'))).pid;

    const status = await driver.rebuild(spec('b'), options({ powerOn: true, rebuildId: 'op-1' }));
    expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
    expect(status.pid).not.toBe(pid);
    expect(isAlive(pid, serverId)).toBe(false);
    expect(await qmpStatus(paths.qmpOps)).toBe('running');
    expect(JSON.parse(readFileSync(paths.spec, 'utf8')).image.sha256).toBe(images.b.sha256);
    await driver.stop(serverId, { graceSeconds: 0 });
    qemuIo(paths.disk, 'read -P 0xbb 0 64k');
    qemuIo(paths.disk, 'read -P 0 1M 64k');
  });

  it('a replay of the same rebuild makes no second disk; it only boots the guest', async () => {
    qemuIo(paths.disk, 'write -P 0x55 1M 64k');
    const status = await driver.rebuild(spec('b'), options({ powerOn: true, rebuildId: 'op-1' }));
    expect(status.powerState).toBe(PowerState.Running);
    await driver.stop(serverId, { graceSeconds: 0 });
    qemuIo(paths.disk, 'read -P 0x55 1M 64k');
  });

  it('a stopped server is rebuilt and stays stopped', async () => {
    const status = await driver.rebuild(spec('a'), options({ powerOn: false, rebuildId: 'op-2' }));
    expect(status).toMatchObject({ serverId, powerState: PowerState.Shutdown });
    expect(pidsNaming(serverId)).toEqual([]);
    qemuIo(paths.disk, 'read -P 0xaa 0 64k');
    qemuIo(paths.disk, 'read -P 0 1M 64k');
  });

  it('wipes the ephemeral disk unless asked to preserve it', async () => {
    const withEphemeral = (image: 'a' | 'b') => ({ ...spec(image), ephemeralGb: 1 });
    // A rebuild takes the spec as given (a start would keep the stored one): now with an ephemeral disk.
    await driver.rebuild(withEphemeral('a'), options({ powerOn: true, rebuildId: 'op-e0' }));
    await driver.stop(serverId, { graceSeconds: 0 });
    qemuIo(paths.ephemeral, 'write -P 0x77 0 64k');
    await driver.rebuild(withEphemeral('a'), { ...options({ powerOn: true, rebuildId: 'op-e1' }), preserveEphemeral: true });
    await driver.stop(serverId, { graceSeconds: 0 });
    qemuIo(paths.ephemeral, 'read -P 0x77 0 64k');
    await driver.rebuild(withEphemeral('a'), options({ powerOn: true, rebuildId: 'op-e2' }));
    await driver.stop(serverId, { graceSeconds: 0 });
    qemuIo(paths.ephemeral, 'read -P 0 0 64k');
  });

  it('a running server rebuilt to stay off ends powered off', async () => {
    await driver.start(spec('a'));
    const status = await driver.rebuild(spec('b'), options({ powerOn: false, rebuildId: 'op-3' }));
    expect(status.powerState).toBe(PowerState.Shutdown);
    expect(pidsNaming(serverId)).toEqual([]);
    qemuIo(paths.disk, 'read -P 0xbb 0 64k');
  });
});
