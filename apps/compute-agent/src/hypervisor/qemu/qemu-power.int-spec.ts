import { pidsNaming } from '@nubo/testing';
/**
 * Power operations of the QEMU driver against real QEMU, firmware-only guests (no disk, no NIC).
 * Such a guest ignores the ACPI power button, so stop and SOFT reboot reach their force paths.
 * The state dir contains a comma on purpose.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, NotFoundError, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PowerStateChange } from '../hypervisor-driver';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { QemuLauncher } from './qemu-launcher';
import { isAlive, killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const accelerator = resolveAccelerator('auto');

const qemuPidsOf = pidsNaming;

describe(`${QemuDriver.name} power operations`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-power,it-'));
  const serverIds: string[] = [];
  const drivers: QemuDriver[] = [];

  function newServer() {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { id: serverId, spec: { serverId, vcpus: 1, ramMb: 64, diskGb: 0 }, paths: instancePaths(stateDir, serverId) };
  }

  function newDriver(): { driver: QemuDriver; changes: PowerStateChange[] } {
    const driver = new QemuDriver({ stateDir, accelerator });
    const changes: PowerStateChange[] = [];
    driver.onPowerStateChange((change) => changes.push(change));
    drivers.push(driver);
    return { driver, changes };
  }

  /** What the operators' monitor says (the agent's own monitor is busy with the agent). */
  async function opsStatus(path: string): Promise<string> {
    const ops = await QmpClient.connect(path);
    try {
      return (await ops.queryStatus()).status;
    } finally {
      ops.close();
    }
  }

  /** Plays a guest that honours the power button: QEMU exits (as it does when the guest powers off). */
  function powerOffSoon(path: string, afterMs: number): void {
    setTimeout(async () => {
      const ops = await QmpClient.connect(path);
      await ops.execute('quit').catch(() => undefined);
      ops.close();
    }, afterMs);
  }

  beforeAll(() => Logger.overrideLogger(['error']));

  afterAll(async () => {
    for (const driver of drivers) await driver.close();
    for (const id of serverIds) for (const pid of qemuPidsOf(id)) await killQemu(pid, id);
    rmSync(stateDir, { recursive: true, force: true });
  });

  describe('stop and start', () => {
    const { id, spec, paths } = newServer();
    let pid: number;

    it('stops: QEMU is gone after the grace period, the directory stays, the state is shutdown', async () => {
      const { driver, changes } = newDriver();
      pid = (await driver.spawn(spec)).pid!;
      const started = Date.now();
      const status = await driver.stop(id, { graceSeconds: 1 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(status).toEqual({ serverId: id, powerState: PowerState.Shutdown, lastExit: { cause: 'host-stop', detail: 'stop (forced)', at: expect.any(String) } });
      expect(isAlive(pid, id)).toBe(false);
      expect(qemuPidsOf(id)).toEqual([]);
      expect(existsSync(paths.spec)).toBe(true);
      expect(await driver.status(id)).toEqual(status);
      // One event for the whole operation: the guest ignored ACPI, so QEMU was quit.
      expect(changes.map((c) => [c.powerState, c.reason])).toEqual([
        [PowerState.Running, 'spawned'],
        [PowerState.Shutdown, 'stop:forced'],
      ]);
    });

    it('stops again idempotently, and refuses to pause a stopped server', async () => {
      const { driver } = newDriver();
      await expect(driver.stop(id, { graceSeconds: 0 })).resolves.toMatchObject({ serverId: id, powerState: PowerState.Shutdown, lastExit: { cause: 'host-stop' } });
      await expect(driver.pause(id)).rejects.toBeInstanceOf(ConflictError);
    });

    it('starts from its directory: a new QEMU, running', async () => {
      const { driver } = newDriver();
      const status = await driver.start(spec);
      expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
      expect(status.pid).not.toBe(pid);
      expect(isAlive(status.pid, id)).toBe(true);
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      await expect(driver.start(spec)).resolves.toMatchObject({ powerState: PowerState.Running, pid: status.pid });
      expect(qemuPidsOf(id)).toEqual([status.pid]);
      expect(await driver.destroy(id)).toBe(true);
    });

    it('stops without force when the guest powers off within the grace period', async () => {
      const server = newServer();
      const { driver, changes } = newDriver();
      const { pid: first } = await driver.spawn(server.spec);
      powerOffSoon(server.paths.qmpOps, 200);
      const started = Date.now();
      await expect(driver.stop(server.id, { graceSeconds: 10 })).resolves.toMatchObject({ powerState: PowerState.Shutdown });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(isAlive(first, server.id)).toBe(false);
      expect(changes.at(-1)).toMatchObject({ powerState: PowerState.Shutdown, reason: 'stop:acpi' });
      expect(await driver.destroy(server.id)).toBe(true);
    });

    it('stops at once with no grace', async () => {
      const server = newServer();
      const { driver } = newDriver();
      const { pid: first } = await driver.spawn(server.spec);
      const started = Date.now();
      await driver.stop(server.id, { graceSeconds: 0 });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(isAlive(first, server.id)).toBe(false);
      expect(await driver.destroy(server.id)).toBe(true);
    });
  });

  describe('reboot', () => {
    it('HARD resets in place: same pid, a RESET event, running', async () => {
      const { id, spec, paths } = newServer();
      const { driver, changes } = newDriver();
      const { pid } = await driver.spawn(spec);
      const status = await driver.reboot(id, { type: 'HARD', graceSeconds: 0 });
      expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running', pid });
      expect(changes.map((c) => c.reason)).toContain('RESET:host-qmp-system-reset');
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      expect(await driver.destroy(id)).toBe(true);
    });

    it('HARD from paused ends running', async () => {
      const { id, spec, paths } = newServer();
      const { driver } = newDriver();
      await driver.spawn(spec);
      await driver.pause(id);
      await expect(driver.reboot(id, { type: 'HARD', graceSeconds: 0 })).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      expect(await driver.destroy(id)).toBe(true);
    });

    it('SOFT on a guest that ignores ACPI waits the grace period, then resets: running', async () => {
      const { id, spec, paths } = newServer();
      const { driver } = newDriver();
      const { pid } = await driver.spawn(spec);
      const started = Date.now();
      const status = await driver.reboot(id, { type: 'SOFT', graceSeconds: 1 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(status).toMatchObject({ powerState: PowerState.Running, pid });
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      expect(await driver.destroy(id)).toBe(true);
    });

    it('SOFT on a guest that powers off: a new QEMU, running', async () => {
      const { id, spec, paths } = newServer();
      const { driver } = newDriver();
      const { pid } = await driver.spawn(spec);
      powerOffSoon(paths.qmpOps, 200);
      const started = Date.now();
      const status = await driver.reboot(id, { type: 'SOFT', graceSeconds: 10 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
      expect(status.pid).not.toBe(pid);
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      expect(await driver.destroy(id)).toBe(true);
    });

    it('HARD boots a stopped server again', async () => {
      const { id, spec } = newServer();
      const { driver } = newDriver();
      const { pid } = await driver.spawn(spec);
      await driver.stop(id, { graceSeconds: 0 });
      const status = await driver.reboot(id, { type: 'HARD', graceSeconds: 0 });
      expect(status.powerState).toBe(PowerState.Running);
      expect(status.pid).not.toBe(pid);
      expect(await driver.destroy(id)).toBe(true);
    });

    it('refuses a server it does not know', async () => {
      const { driver } = newDriver();
      await expect(driver.reboot(randomUUID(), { type: 'HARD', graceSeconds: 0 })).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('pause and unpause', () => {
    it('stops and continues the vCPUs, idempotently, in the same process', async () => {
      const { id, spec, paths } = newServer();
      const { driver, changes } = newDriver();
      const { pid } = await driver.spawn(spec);
      await expect(driver.pause(id)).resolves.toMatchObject({ powerState: PowerState.Paused, qmpStatus: 'paused', pid });
      expect(await opsStatus(paths.qmpOps)).toBe('paused');
      await expect(driver.pause(id)).resolves.toMatchObject({ powerState: PowerState.Paused });
      await expect(driver.unpause(id)).resolves.toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running', pid });
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      await expect(driver.unpause(id)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(changes.map((c) => c.powerState)).toEqual([PowerState.Running, PowerState.Paused, PowerState.Running]);
      expect(await driver.destroy(id)).toBe(true);
    });
  });

  describe('suspend and resume', () => {
    const { id, spec, paths } = newServer();
    let pid: number;

    it('suspends: RAM saved to memory.save, QEMU gone, state suspended', async () => {
      const { driver, changes } = newDriver();
      pid = (await driver.spawn(spec)).pid!;
      const status = await driver.suspend(id);
      expect(status).toEqual({ serverId: id, powerState: PowerState.Suspended, lastExit: { cause: 'host-stop', detail: 'suspend', at: expect.any(String) } });
      expect(isAlive(pid, id)).toBe(false);
      expect(qemuPidsOf(id)).toEqual([]);
      expect(existsSync(paths.memorySave)).toBe(true);
      expect(existsSync(paths.memorySaveTmp)).toBe(false);
      expect(existsSync(paths.saveSock)).toBe(false);
      expect(changes.map((c) => [c.powerState, c.reason])).toEqual([
        [PowerState.Running, 'spawned'],
        [PowerState.Suspended, 'suspend'],
      ]);
      await expect(driver.suspend(id)).resolves.toEqual(status);
      await expect(driver.spawn(spec)).rejects.toBeInstanceOf(ConflictError);
      await expect(driver.start(spec)).rejects.toBeInstanceOf(ConflictError);
      await driver.close();
    });

    it('is adopted as suspended by a new driver (agent restart)', async () => {
      const { driver } = newDriver();
      const suspended = { serverId: id, powerState: PowerState.Suspended, lastExit: expect.objectContaining({ cause: 'host-stop', detail: 'suspend' }) };
      expect(await driver.adopt()).toContainEqual(suspended);
      expect(await driver.status(id)).toEqual(suspended);
    });

    it('resumes from the saved RAM: a new QEMU, running, memory.save gone', async () => {
      const { driver, changes } = newDriver();
      const status = await driver.resume(spec);
      expect(status).toMatchObject({ powerState: PowerState.Running, qmpStatus: 'running' });
      expect(status.pid).not.toBe(pid);
      expect(isAlive(status.pid, id)).toBe(true);
      expect(existsSync(paths.memorySave)).toBe(false);
      expect(existsSync(paths.restoreSock)).toBe(false);
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      // Found on disk by this driver (suspended), then resumed: never `shutdown` on the way.
      expect(changes.map((c) => [c.powerState, c.reason])).toEqual([
        [PowerState.Suspended, 'found-dead'],
        [PowerState.Running, 'resume'],
      ]);
      await expect(driver.resume(spec)).resolves.toMatchObject({ powerState: PowerState.Running, pid: status.pid });
      // QEMU serves one client per monitor socket: let go, as a dead agent would.
      await driver.close();
    });

    it('suspends a paused server and resumes it running', async () => {
      const { driver } = newDriver();
      await driver.adopt();
      await driver.pause(id);
      await expect(driver.suspend(id)).resolves.toMatchObject({ powerState: PowerState.Suspended });
      await expect(driver.resume(spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      expect(await opsStatus(paths.qmpOps)).toBe('running');
      await driver.close();
    });

    it('drops a stale saved RAM file (and a half-written one) when adopting a running QEMU', async () => {
      const { driver } = newDriver();
      await driver.adopt();
      await driver.close();
      // An agent that died between `cont` and deleting the file, or in the middle of writing it.
      writeFileSync(paths.memorySave, 'stale');
      writeFileSync(paths.memorySaveTmp, 'half');
      const { driver: restarted } = newDriver();
      expect(await restarted.adopt()).toContainEqual(expect.objectContaining({ serverId: id, powerState: PowerState.Running }));
      expect(existsSync(paths.memorySave)).toBe(false);
      expect(existsSync(paths.memorySaveTmp)).toBe(false);
      await restarted.close();
    });

    it('keeps the saved RAM of a resume the agent died in (QEMU still inmigrate) and kills that QEMU', async () => {
      const { driver } = newDriver();
      await driver.adopt();
      await driver.suspend(id);
      await driver.close();
      const launcher = new QemuLauncher({ accelerator }, driver.images);
      const orphan = await launcher.launch('resume', spec, paths, { fresh: false, incoming: true });
      orphan.monitor.close();
      const { driver: restarted } = newDriver();
      expect(await restarted.adopt()).toContainEqual({ serverId: id, powerState: PowerState.Suspended, lastExit: expect.objectContaining({ cause: 'host-stop' }) });
      expect(isAlive(orphan.pid, id)).toBe(false);
      expect(existsSync(paths.memorySave)).toBe(true);
      await expect(restarted.resume(spec)).resolves.toMatchObject({ powerState: PowerState.Running });
      await restarted.close();
    });

    it('stop of a suspended server drops the saved RAM; destroy removes everything', async () => {
      const { driver } = newDriver();
      await driver.adopt();
      await driver.suspend(id);
      await expect(driver.stop(id, { graceSeconds: 0 })).resolves.toMatchObject({ serverId: id, powerState: PowerState.Shutdown, lastExit: { detail: 'stop: saved RAM dropped' } });
      expect(existsSync(paths.memorySave)).toBe(false);
      expect(await driver.destroy(id)).toBe(true);
      expect(existsSync(paths.dir)).toBe(false);
      expect(qemuPidsOf(id)).toEqual([]);
    });
  });
});
