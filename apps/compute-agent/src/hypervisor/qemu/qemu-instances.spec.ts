/**
 * How the end of a QEMU becomes a power state with its cause, against a fake QMP monitor and a
 * stand-in process (a node that idles, with the server id and -pidfile on its command line).
 */
import { Logger } from '@nestjs/common';
import { PowerState } from '@nubo/contracts';
import { FakeQmpServer } from '@nubo/testing';
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PowerStateChange } from '../hypervisor-driver';
import { hostStopExit, readLastExit, writeLastExit } from './qemu-exit';
import { QemuInstances } from './qemu-instances';
import { QemuMonitor } from './qemu-monitor';
import { QemuExit } from './qemu-process';

describe(QemuInstances.name, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-instances-'));
  const children: ChildProcess[] = [];
  let qmp: FakeQmpServer;
  let instances: QemuInstances;
  let changes: PowerStateChange[];

  /** A process that passes for the server's QEMU (isAlive reads its command line). */
  function standIn(serverId: string, pidfile: string): { child: ChildProcess; exited: Promise<QemuExit> } {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', '--', serverId, '-pidfile', pidfile], { stdio: 'ignore' });
    children.push(child);
    const exited = new Promise<QemuExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, exited };
  }

  async function tracked() {
    const serverId = randomUUID();
    const paths = instances.paths(serverId);
    mkdirSync(paths.dir, { recursive: true });
    const { child, exited } = standIn(serverId, paths.pidfile);
    await new Promise((resolve) => child.once('spawn', resolve));
    const monitor = await QemuMonitor.connect(qmp.path, serverId, { timeoutMs: 2_000 });
    const instance = instances.track({ serverId, vcpus: 1, ramMb: 64, diskGb: 0 }, child.pid!, monitor, 'running', exited);
    instances.setPowerState(instance, PowerState.Running, 'spawned');
    changes.length = 0;
    return { serverId, paths, child, instance };
  }

  const settled = (n: number) => waitFor(() => changes.length >= n);

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(async () => {
    qmp = await new FakeQmpServer().start();
    instances = new QemuInstances(stateDir);
    changes = [];
    instances.events.on((change) => changes.push(change));
  });
  afterEach(async () => {
    instances.close();
    await qmp.stop();
  });
  it('makes find() wait for a QEMU being started instead of adopting it (its QMP socket stays the starter\'s)', async () => {
    const serverId = randomUUID();
    const paths = instances.paths(serverId);
    mkdirSync(paths.dir, { recursive: true });
    const { child, exited } = standIn(serverId, paths.pidfile);
    await new Promise((resolve) => child.once('spawn', resolve));
    writeFileSync(paths.pidfile, `${child.pid}\n`);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const starting = instances.whileStarting(serverId, async () => {
      await gate; // the directory, pidfile and process exist; the starter has not connected yet
      const monitor = await QemuMonitor.connect(qmp.path, serverId, { timeoutMs: 2_000 });
      return instances.track({ serverId, vcpus: 1, ramMb: 64, diskGb: 0 }, child.pid!, monitor, 'running', exited);
    });
    const found = instances.find(serverId);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    const started = await starting;
    expect(await found).toBe(started);
  });

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  describe('the end of a process nobody asked for', () => {
    it('is unexpected, with the signal that killed it, and kept in the instance directory', async () => {
      const { child, paths, instance } = await tracked();
      child.kill('SIGKILL');
      qmp.hangUp();
      await settled(1);
      expect(changes[0]).toMatchObject({ powerState: PowerState.Shutdown, reason: 'process-exited', lastExit: { cause: 'unexpected', detail: 'killed by SIGKILL' } });
      expect(readLastExit(paths.dir)).toEqual(changes[0].lastExit);
      expect(instances.snapshot(instance)).toMatchObject({ powerState: PowerState.Shutdown, lastExit: { cause: 'unexpected' } });
    });

    it('is a guest power-off when QEMU said SHUTDOWN guest-shutdown, reported before the process is gone', async () => {
      const { child } = await tracked();
      qmp.emitEvent('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
      await settled(1);
      expect(changes[0]).toMatchObject({ powerState: PowerState.Shutdown, lastExit: { cause: 'guest-shutdown' } });
      child.kill('SIGTERM');
      qmp.hangUp();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(changes).toHaveLength(1);
    });

    it('is a guest panic: crashed at GUEST_PANICKED, then off with the cause', async () => {
      const { child, paths } = await tracked();
      qmp.emitEvent('GUEST_PANICKED', { action: 'poweroff' });
      qmp.emitEvent('STOP', {});
      qmp.emitEvent('SHUTDOWN', { guest: true, reason: 'guest-panic' });
      await settled(2);
      child.kill('SIGTERM');
      qmp.hangUp();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(changes.map((c) => [c.powerState, c.lastExit?.cause])).toEqual([
        [PowerState.Crashed, undefined],
        [PowerState.Shutdown, 'guest-panic'],
      ]);
      expect(readLastExit(paths.dir)?.cause).toBe('guest-panic');
    });

    it('is not reported while an operation of the agent owns the instance', async () => {
      const { child, instance } = await tracked();
      instance.quiet = true;
      child.kill('SIGKILL');
      qmp.hangUp();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(changes).toHaveLength(0);
    });
  });

  describe('track', () => {
    it('forgets the last exit once a new process runs', async () => {
      const { paths, instance, serverId } = await tracked();
      instances.markGone(instance, 'stop:forced', hostStopExit('stop (forced)'));
      expect(readLastExit(paths.dir)?.cause).toBe('host-stop');
      const { child, exited } = standIn(serverId, paths.pidfile);
      await new Promise((resolve) => child.once('spawn', resolve));
      const again = instances.track(instance.spec!, child.pid!, await QemuMonitor.connect(qmp.path, serverId, { timeoutMs: 2_000 }), 'running', exited);
      expect(again.lastExit).toBeUndefined();
      expect(readLastExit(paths.dir)).toBeUndefined();
    });
  });

  describe('adopt', () => {
    function leftBehind(options: { pid?: number } = {}) {
      const serverId = randomUUID();
      const paths = instances.paths(serverId);
      mkdirSync(paths.dir, { recursive: true });
      writeFileSync(paths.pidfile, `${options.pid ?? 999_999}\n`);
      return { serverId, paths };
    }

    it('reports a QEMU found dead, and remembers it across agents', async () => {
      const { serverId, paths } = leftBehind();
      const adopted = await instances.adopt(serverId);
      expect(adopted.powerState).toBe(PowerState.Shutdown);
      expect(changes).toEqual([expect.objectContaining({ serverId, powerState: PowerState.Shutdown, lastExit: expect.objectContaining({ cause: 'found-dead' }) })]);
      const first = readLastExit(paths.dir)!;
      const next = await new QemuInstances(stateDir).adopt(serverId);
      expect(next.lastExit).toEqual(first);
    });

    it('keeps the cause an earlier agent recorded', async () => {
      const { serverId, paths } = leftBehind();
      writeLastExit(paths.dir, hostStopExit('stop (acpi)'));
      expect((await instances.adopt(serverId)).lastExit).toMatchObject({ cause: 'host-stop', detail: 'stop (acpi)' });
    });

    it('finds a live QEMU by its command line when the pidfile is missing, and drops a stale verdict', async () => {
      const { serverId, paths } = leftBehind();
      rmSync(paths.pidfile);
      writeLastExit(paths.dir, hostStopExit('stop (acpi)'));
      symlinkSync(qmp.path, paths.qmp);
      const { child } = standIn(serverId, paths.pidfile);
      await new Promise((resolve) => child.once('spawn', resolve));
      await waitFor(() => readCmdline(child.pid!).includes(serverId));
      const adopted = await instances.adopt(serverId);
      expect(adopted.pid).toBe(child.pid);
      expect(adopted.powerState).toBe(PowerState.Running);
      expect(adopted.lastExit).toBeUndefined();
      expect(readLastExit(paths.dir)).toBeUndefined();
      child.kill('SIGKILL');
    });
  });
});

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
