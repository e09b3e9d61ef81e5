import { pidsNaming } from '@nubo/testing';
/**
 * The QEMU driver against real QEMU (qemu-system-x86 7.2), firmware-only guests (no disk, no
 * NIC). The state dir contains a comma on purpose: QEMU must get it escaped.
 */
import { Logger } from '@nestjs/common';
import { PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { HypervisorError, PowerStateChange } from '../hypervisor-driver';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { isAlive, killQemu } from './qemu-process';
import { QemuDriver, QemuDriverOptions } from './qemu.driver';

const accelerator = resolveAccelerator('auto');
const isRoot = process.getuid?.() === 0;

const qemuPidsOf = pidsNaming;

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe(QemuDriver.name, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-agent,it-'));
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];
  const namespaces: string[] = [];

  function newServerId(): string {
    const id = randomUUID();
    serverIds.push(id);
    return id;
  }

  function newDriver(options: Partial<QemuDriverOptions> = {}): { driver: QemuDriver; changes: PowerStateChange[] } {
    const driver = new QemuDriver({ stateDir, accelerator, ...options });
    const changes: PowerStateChange[] = [];
    driver.onPowerStateChange((change) => changes.push(change));
    drivers.push(driver);
    return { driver, changes };
  }

  beforeAll(() => Logger.overrideLogger(['error']));

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of qemuPidsOf(id)) await killQemu(pid, id);
    for (const ns of namespaces) execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    rmSync(stateDir, { recursive: true, force: true });
  });

  describe('lifecycle of a firmware-only guest', () => {
    const id = newServerId();
    const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };
    const paths = instancePaths(stateDir, id);
    let first: ReturnType<typeof newDriver>;
    let pid: number;

    it('spawns: QEMU runs, and the operators monitor says running', async () => {
      first = newDriver();
      const status = await first.driver.spawn(spec);
      expect(status).toMatchObject({ serverId: id, powerState: PowerState.Running, qmpStatus: 'running' });
      pid = status.pid!;
      expect(isAlive(pid, id)).toBe(true);
      expect(JSON.parse(readFileSync(paths.spec, 'utf8'))).toEqual(spec);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline).toContain(`guest=nubo-${id}`);
      expect(cmdline).toContain(accelerator);

      const ops = await QmpClient.connect(paths.qmpOps);
      try {
        expect(await ops.queryStatus()).toMatchObject({ running: true, status: 'running' });
      } finally {
        ops.close();
      }
      expect(first.changes.map((c) => [c.serverId, c.powerState, c.reason])).toEqual([[id, PowerState.Running, 'spawned']]);
    });

    it('spawns again idempotently: same pid, nothing new started', async () => {
      const again = await first.driver.spawn(spec);
      expect(again).toMatchObject({ powerState: PowerState.Running, pid });
      expect(qemuPidsOf(id)).toEqual([pid]);
    });

    it('adopts the running QEMU from a new driver on the same state dir (agent restart)', async () => {
      await first.driver.close();
      const { driver } = newDriver();
      expect(await driver.adopt()).toEqual([{ serverId: id, powerState: PowerState.Running, qmpStatus: 'running', pid }]);
      expect(await driver.status(id)).toMatchObject({ powerState: PowerState.Running, pid });
      // QEMU serves one client per monitor socket: let go, as a dead agent would.
      await driver.close();
    });

    it('reports a pause and a resume done behind its back', async () => {
      const { driver, changes } = newDriver();
      await driver.adopt();
      const ops = await QmpClient.connect(paths.qmpOps);
      try {
        await ops.execute('stop');
        await until(() => changes.some((c) => c.powerState === PowerState.Paused));
        expect((await driver.status(id)).powerState).toBe(PowerState.Paused);
        await ops.execute('cont');
        await until(() => changes.at(-1)?.powerState === PowerState.Running);
      } finally {
        ops.close();
      }
      expect(changes.map((c) => c.reason)).toEqual(['STOP', 'RESUME']);
      await driver.close();
    });

    it('destroys: the process and the directory are gone; a second destroy answers false', async () => {
      const { driver, changes } = newDriver();
      await driver.adopt();
      expect(await driver.destroy(id)).toBe(true);
      expect(isAlive(pid, id)).toBe(false);
      expect(qemuPidsOf(id)).toEqual([]);
      expect(existsSync(paths.dir)).toBe(false);
      expect(changes.map((c) => c.powerState)).toContain(PowerState.Shutdown);
      expect(await driver.destroy(id)).toBe(false);
      expect(await driver.status(id)).toEqual({ serverId: id, powerState: PowerState.NoState });
    });
  });

  describe('a QEMU that exits on its own', () => {
    it('is reported shut down, kept on disk, and can be spawned again', async () => {
      const id = newServerId();
      const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };
      const { driver, changes } = newDriver();
      const { pid } = await driver.spawn(spec);
      const ops = await QmpClient.connect(instancePaths(stateDir, id).qmpOps);
      await ops.execute('quit').catch(() => undefined);
      ops.close();
      await until(() => changes.some((c) => c.powerState === PowerState.Shutdown));
      // Nobody asked for it: reported once the exit status is known, with the SHUTDOWN reason.
      const lastExit = { cause: 'unexpected', detail: 'SHUTDOWN host-qmp-quit, exit code 0', at: expect.any(String) };
      expect(changes.find((c) => c.powerState === PowerState.Shutdown)).toMatchObject({ reason: 'process-exited', lastExit });
      await until(() => !isAlive(pid, id));
      expect(await driver.status(id)).toEqual({ serverId: id, powerState: PowerState.Shutdown, lastExit });
      expect(existsSync(instancePaths(stateDir, id).dir)).toBe(true);

      // A restarted agent still knows why.
      const { driver: restarted } = newDriver();
      expect(await restarted.adopt()).toContainEqual({ serverId: id, powerState: PowerState.Shutdown, lastExit });

      const again = await driver.spawn(spec);
      expect(again.powerState).toBe(PowerState.Running);
      expect(again.pid).not.toBe(pid);
      expect(await driver.destroy(id)).toBe(true);
    });
  });

  describe('a QEMU killed with SIGKILL', () => {
    it('is reported unexpected with the signal; a lost pidfile never lets a second QEMU start', async () => {
      const id = newServerId();
      const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };
      const { driver, changes } = newDriver();
      const { pid } = await driver.spawn(spec);
      process.kill(pid!, 'SIGKILL');
      await until(() => changes.some((c) => c.powerState === PowerState.Shutdown));
      expect(changes.at(-1)).toMatchObject({ powerState: PowerState.Shutdown, lastExit: { cause: 'unexpected', detail: 'killed by SIGKILL' } });

      // A QEMU whose pidfile is gone is still found: adopted by the next agent, not started twice.
      const again = await driver.spawn(spec);
      rmSync(instancePaths(stateDir, id).pidfile);
      await driver.close(); // the old agent lets go of QMP (one client at a time)
      const { driver: restarted } = newDriver();
      expect(await restarted.adopt()).toContainEqual(expect.objectContaining({ serverId: id, powerState: PowerState.Running, pid: again.pid }));
      await expect(restarted.start(spec)).resolves.toMatchObject({ pid: again.pid });
      expect(qemuPidsOf(id)).toEqual([again.pid]);
      expect(await restarted.destroy(id)).toBe(true);
    });
  });

  describe('a failed spawn', () => {
    it('cleans up its directory and leaves no process when QEMU cannot start (10 TiB of RAM)', async () => {
      const id = newServerId();
      const { driver } = newDriver();
      const error = await driver.spawn({ serverId: id, vcpus: 1, ramMb: 10 * 1024 * 1024, diskGb: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HypervisorError);
      expect((error as Error).message).toMatch(/cannot set up guest memory/);
      expect(existsSync(instancePaths(stateDir, id).dir)).toBe(false);
      expect(qemuPidsOf(id)).toEqual([]);
      expect(await driver.list()).toEqual([]);
    });

    it('cleans up when the QEMU binary does not exist', async () => {
      const id = newServerId();
      const { driver } = newDriver({ qemuBinary: '/nonexistent/qemu-system-x86_64' });
      await expect(driver.spawn({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 })).rejects.toThrow(/ENOENT/);
      expect(existsSync(instancePaths(stateDir, id).dir)).toBe(false);
    });
  });

  (isRoot ? describe : describe.skip)('with a network namespace (needs root)', () => {
    it('runs QEMU inside the namespace and still reaches its QMP sockets', async () => {
      const ns = `nubo-it-${randomUUID().slice(0, 8)}`;
      execFileSync('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
      const id = newServerId();
      const { driver } = newDriver({ netns: ns });
      const { pid } = await driver.spawn({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 });
      expect(execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).trim()).toBe(ns);
      expect(await driver.status(id)).toMatchObject({ powerState: PowerState.Running, pid });
      expect(await driver.destroy(id)).toBe(true);
      expect(qemuPidsOf(id)).toEqual([]);
    });

    it('cleans up when the namespace does not exist', async () => {
      const id = newServerId();
      const { driver } = newDriver({ netns: `nubo-missing-${randomUUID().slice(0, 8)}` });
      await expect(driver.spawn({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 })).rejects.toBeInstanceOf(HypervisorError);
      expect(existsSync(instancePaths(stateDir, id).dir)).toBe(false);
      expect(qemuPidsOf(id)).toEqual([]);
    });
  });
});
