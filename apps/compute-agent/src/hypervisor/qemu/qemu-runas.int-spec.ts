/**
 * QEMU as its own user (nubo-qemu, deploy/lib.sh) against real QEMU: it runs unprivileged, still
 * under the seccomp sandbox, and everything it opens after start still works: the suspend socket,
 * the resume socket, a live snapshot's target, the serial console. Needs root and the user; skipped
 * otherwise. TCG guests (KVM needs /dev/kvm open to the user, which this host may not allow).
 */
import { Logger } from '@nestjs/common';
import { ImageSource, InstanceSpec, PowerState } from '@nubo/contracts';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveImage } from '../../../../../test/support/qemu-guest-fixture';
import { canOpenKvm } from './accelerator';
import { instancePaths } from './qemu-argv';
import { killQemu } from './qemu-process';
import { DEFAULT_QEMU_USER, lookupUser, userCanOpenKvm } from './qemu-user';
import { QemuDriver } from './qemu.driver';

const user = lookupUser(DEFAULT_QEMU_USER);
const isRoot = process.getuid?.() === 0;

/** `ps -o user=` widened: ps cuts names longer than 8 characters ("nubo-qe+"). */
const userOf = (pid: number) => execFileSync('ps', ['-o', 'user:32=', '-p', String(pid)], { encoding: 'utf8' }).trim();
const statusOf = (pid: number) => Object.fromEntries(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').map((line) => line.split(':\t')));

(isRoot && user ? describe : describe.skip)(`${QemuDriver.name} running QEMU as ${DEFAULT_QEMU_USER}`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-runas,it-'));
  const work = mkdtempSync(join(tmpdir(), 'nubo-runas-src-'));
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];
  let image: ImageSource;
  let closeImage: () => Promise<void>;
  let uploads: Server;
  let uploadUrl: string;
  const received: number[] = [];

  function newDriver(qemuUser?: string): QemuDriver {
    const driver = new QemuDriver({ stateDir, accelerator: 'tcg', ...(qemuUser !== undefined ? { qemuUser } : {}) });
    drivers.push(driver);
    return driver;
  }

  function newSpec(extra: Partial<InstanceSpec> = {}): InstanceSpec {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { serverId, vcpus: 1, ramMb: 64, diskGb: 1, image, accelerator: 'tcg', ...extra };
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    const base = join(work, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, String(32 * 2 ** 20)]);
    ({ image, close: closeImage } = await serveImage(readFileSync(base), 'qcow2'));
    uploads = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        received.push(bytes);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => uploads.listen(0, '127.0.0.1', resolve));
    uploadUrl = `http://127.0.0.1:${(uploads.address() as AddressInfo).port}/upload`;
  });

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await closeImage?.();
    await new Promise<void>((resolve) => (uploads ? uploads.close(() => resolve()) : resolve()));
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('a server with a disk and an ephemeral disk', () => {
    let spec: InstanceSpec;
    let driver: QemuDriver;

    it('runs QEMU as the user, without capabilities, with no_new_privs and the seccomp filter', async () => {
      spec = newSpec({ ephemeralGb: 1 });
      driver = newDriver();
      const { pid } = await driver.spawn(spec);
      expect(userOf(pid!)).toBe(DEFAULT_QEMU_USER);
      const status = statusOf(pid!);
      expect(status.Uid.split('\t')).toEqual(Array(4).fill(String(user!.uid)));
      expect(status.CapEff).toBe('0000000000000000');
      expect(status.NoNewPrivs).toBe('1');
      // 2: a seccomp filter (QEMU's -sandbox) is installed.
      expect(status.Seccomp).toBe('2');
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('elevateprivileges=deny');
    });

    it('gives the instance files QEMU writes to the user, and keeps the directory from everyone else', () => {
      const paths = instancePaths(stateDir, spec.serverId);
      for (const file of [paths.disk, paths.ephemeral, paths.console, paths.qmp, paths.serial, paths.vnc]) {
        expect([file, statSync(file).uid]).toEqual([file, user!.uid]);
      }
      expect(statSync(paths.spec).uid).toBe(0);
      expect(statSync(paths.dir).mode & 0o7777).toBe(0o1770);
      expect(statSync(paths.dir).gid).toBe(user!.gid);
    });

    it('suspends (QEMU connects to the agent socket) and resumes (QEMU listens) as the user', async () => {
      await expect(driver.suspend(spec.serverId)).resolves.toMatchObject({ powerState: PowerState.Suspended });
      const resumed = await driver.resume(spec);
      expect(resumed.powerState).toBe(PowerState.Running);
      expect(userOf(resumed.pid!)).toBe(DEFAULT_QEMU_USER);
    });

    it('snapshots live (QEMU opens the copy the agent made) as the user', async () => {
      const result = await driver.snapshot(spec.serverId, { imageId: randomUUID(), upload: { url: uploadUrl, headers: {} } });
      expect(result.virtualSize).toBe(2 ** 30);
      expect(received.at(-1)).toBe(result.sizeBytes);
      expect(userOf((await driver.status(spec.serverId)).pid!)).toBe(DEFAULT_QEMU_USER);
    });

    it('stops and starts as the user again', async () => {
      await driver.stop(spec.serverId, { graceSeconds: 0 });
      const started = await driver.start(spec);
      expect(userOf(started.pid!)).toBe(DEFAULT_QEMU_USER);
      expect(await driver.destroy(spec.serverId)).toBe(true);
    });
  });

  it('runs QEMU as the agent when the user is set empty (NUBO_AGENT_QEMU_USER=)', async () => {
    const spec = newSpec({ image: undefined, diskGb: 0 });
    const driver = newDriver('');
    const { pid } = await driver.spawn(spec);
    expect(userOf(pid!)).toBe('root');
    expect(await driver.destroy(spec.serverId)).toBe(true);
  });

  (canOpenKvm() ? it : it.skip)('runs a KVM guest as the user only where the user can open /dev/kvm', async () => {
    const spec = newSpec({ image: undefined, diskGb: 0, accelerator: 'kvm' });
    const driver = newDriver();
    const { pid } = await driver.spawn(spec);
    expect(userOf(pid!)).toBe(userCanOpenKvm(user!) ? DEFAULT_QEMU_USER : 'root');
    expect(await driver.destroy(spec.serverId)).toBe(true);
  });
});
