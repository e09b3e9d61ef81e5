/**
 * Live migration between two real QEMUs on this machine: two QemuDrivers on two state dirs play
 * the source and destination hosts, their underlay is loopback (127.0.0.1). Firmware-only guests
 * (KVM when /dev/kvm works, else TCG). The listener's firewall is a table of this test's own in the
 * root netns; 127.0.0.2 plays "another host".
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, MigrationParameters, MigrationStatusReply, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PowerStateChange } from '../hypervisor-driver';
import { resolveAccelerator } from './accelerator';
import { MigrationListenerFirewall } from './migration-listener-firewall';
import { NODE, instancePaths } from './qemu-argv';
import { isAlive, killQemu, readPidfile, sleep } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const TABLE = 'nubo_lmig_it';
const PORTS = { min: 47100, max: 47199 };
/** One stream (multifd off). The faults spec kills destinations with multifd asked, on the test guest. */
const CHANNELS = { multifdChannels: 0, postcopyAllowed: false };
const FAST: MigrationParameters = { maxBandwidthBytesPerSec: 10 * 2 ** 30, downtimeLimitMs: 300, multifdChannels: 2, autoConverge: true, postcopyAllowed: false };

/** Connects from `localAddress`; resolves 'connected' or the error code. */
function tryConnect(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

const describeIt = process.env.NUBO_DATABASE_URL ? describe : describe.skip;

describeIt('QemuLiveMigration (two real QEMUs)', () => {
  const root = mkdtempSync(join(tmpdir(), 'lmig-'));
  const srcDir = join(root, 's');
  const dstDir = join(root, 'd');
  const accelerator = resolveAccelerator('auto');
  const src = new QemuDriver({ stateDir: srcDir, accelerator, qemuUser: '' });
  const dst = new QemuDriver({ stateDir: dstDir, accelerator, qemuUser: '', migration: { ports: PORTS, firewall: { table: TABLE } } });
  const firewall = new MigrationListenerFirewall({ table: TABLE });
  const serverIds: string[] = [];
  const events: PowerStateChange[] = [];
  src.onPowerStateChange((e) => events.push(e));
  dst.onPowerStateChange((e) => events.push(e));

  const newSpec = (extra: Partial<InstanceSpec> = {}): InstanceSpec => {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { serverId, vcpus: 1, ramMb: 256, diskGb: 0, accelerator, ...extra };
  };
  const cmd = () => ({ opId: randomUUID(), deadline: Date.now() + 120_000 });

  async function ops<T>(stateDir: string, serverId: string, command: string, args?: Record<string, unknown>): Promise<T> {
    const client = await QmpClient.connect(instancePaths(stateDir, serverId).qmpOps);
    try {
      return await client.execute<T>(command, args);
    } finally {
      client.close();
    }
  }

  async function until(serverId: string, migrationId: string, phases: string[], timeoutMs = 20_000): Promise<MigrationStatusReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await src.liveMigration.status({ serverId, migrationId });
      if (phases.includes(status.phase)) return status;
      if (status.phase === 'failed' || Date.now() > deadline) throw new Error(`migration ${status.phase}: ${JSON.stringify(status)}`);
      await sleep(50);
    }
  }

  /** The destination sees the end of the stream a moment after the source (the scheduler asks again too). */
  async function finish(driver: QemuDriver, ids: { serverId: string; migrationId: string }): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        return await driver.liveMigration.finish(ids);
      } catch (error) {
        if (tries > 100 || !/has not completed here/.test((error as Error).message)) throw error;
        await sleep(50);
      }
    }
  }

  function mapElements(): string {
    try {
      return execFileSync('nft', ['list', 'map', 'inet', TABLE, 'listeners'], { encoding: 'utf8' });
    } catch {
      return '';
    }
  }

  beforeAll(() => Logger.overrideLogger(['error']));

  afterAll(async () => {
    await src.close();
    await dst.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await firewall.removeTable().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  it('migrates a running 256 MiB instance: the destination runs, the source is gone, no power-off reported', async () => {
    const spec = newSpec();
    const migrationId = `m-${randomUUID()}`;
    const ids = { serverId: spec.serverId, migrationId };
    await src.spawn(spec);
    const sourcePid = (await src.status(spec.serverId)).pid;
    const prepared = await dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: FAST });
    expect(prepared.port).toBeGreaterThanOrEqual(PORTS.min);
    // A retry answers the same port; the destination is not the server's instance yet.
    await expect(dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: FAST })).resolves.toEqual(prepared);
    expect((await dst.status(spec.serverId)).powerState).toBe(PowerState.NoState);
    expect(await tryConnect(prepared.port, '127.0.0.2')).toBe('ECONNREFUSED');

    await src.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port }, parameters: FAST, deadline: cmd().deadline });
    const done = await until(spec.serverId, migrationId, ['completed']);
    expect(done.downtimeMs).toEqual(expect.any(Number));
    expect(done.memory.totalBytes).toBeGreaterThanOrEqual(256 * 2 ** 20);

    await finish(dst, ids);
    await dst.liveMigration.finish(ids); // idempotent
    expect((await ops<{ status: string }>(dstDir, spec.serverId, 'query-status')).status).toBe('running');
    expect(await dst.status(spec.serverId)).toMatchObject({ powerState: PowerState.Running });
    expect(mapElements()).not.toContain(migrationId);

    await expect(src.liveMigration.cleanupSource(ids)).resolves.toBe(true);
    await expect(src.liveMigration.cleanupSource(ids)).resolves.toBe(false);
    expect(isAlive(sourcePid, spec.serverId)).toBe(false);
    expect(existsSync(instancePaths(srcDir, spec.serverId).dir)).toBe(false);
    await sleep(300);
    const sourceEvents = events.filter((e) => e.serverId === spec.serverId && e.powerState !== PowerState.Running);
    expect(sourceEvents).toEqual([]);
    expect(await src.list()).toEqual([]);
    await dst.destroy(spec.serverId);
  });

  it('copies a local disk (block migration) so that source and target match', async () => {
    const spec = newSpec({ ephemeralGb: 1 });
    const migrationId = `m-${randomUUID()}`;
    const ids = { serverId: spec.serverId, migrationId };
    await src.spawn(spec);
    // A marker written into the running source's disk.
    const wrote = await ops<string>(srcDir, spec.serverId, 'human-monitor-command', { 'command-line': 'qemu-io -d /machine/peripheral/disk1/virtio-backend "write -P 0x5a 1M 3M"' });
    expect(wrote).not.toMatch(/error/i);
    const prepared = await dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: FAST });
    expect(prepared.nbd?.exports).toEqual([{ node: NODE.ephemeral, name: NODE.ephemeral }]);
    expect(await tryConnect(prepared.nbd!.port, '127.0.0.2')).toBe('ECONNREFUSED');

    await src.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port, nbd: prepared.nbd }, parameters: FAST, deadline: cmd().deadline });
    const done = await until(spec.serverId, migrationId, ['completed']);
    expect(done.disk).toMatchObject({ totalBytes: 2 ** 30, remainingBytes: 0 });
    await finish(dst, ids);

    const source = instancePaths(srcDir, spec.serverId).ephemeral;
    const target = instancePaths(dstDir, spec.serverId).ephemeral;
    execFileSync('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', source, target]);
    const read = execFileSync('qemu-io', ['-r', '-U', '-f', 'qcow2', '-c', 'read -P 0x5a 1M 3M', target], { encoding: 'utf8' });
    expect(read).not.toMatch(/verification failed/i);
    await src.liveMigration.cleanupSource(ids);
    expect(events.filter((e) => e.serverId === spec.serverId && e.powerState !== PowerState.Running)).toEqual([]);
    await dst.destroy(spec.serverId);
  });

  it('cancels mid-way: the source keeps running and abortDestination leaves nothing', async () => {
    const spec = newSpec();
    const migrationId = `m-${randomUUID()}`;
    const ids = { serverId: spec.serverId, migrationId };
    await src.spawn(spec);
    const prepared = await dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: { multifdChannels: 0, postcopyAllowed: false } });
    const slow = { ...FAST, maxBandwidthBytesPerSec: 1000, multifdChannels: 0 };
    await src.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port }, parameters: slow, deadline: cmd().deadline });
    await until(spec.serverId, migrationId, ['active']);
    await expect(src.liveMigration.adjust(ids, { startPostcopy: true })).rejects.toThrow(/without post-copy/);

    await expect(src.liveMigration.cancel(ids)).resolves.toBe(true);
    await expect(src.liveMigration.cancel(ids)).resolves.toBe(false);
    expect((await ops<{ status: string }>(srcDir, spec.serverId, 'query-status')).status).toBe('running');
    expect(await src.status(spec.serverId)).toMatchObject({ powerState: PowerState.Running });

    const destPid = readPidfile(instancePaths(dstDir, spec.serverId).pidfile);
    await expect(dst.liveMigration.abortDestination(ids)).resolves.toBe(true);
    await expect(dst.liveMigration.abortDestination(ids)).resolves.toBe(false);
    expect(isAlive(destPid, spec.serverId)).toBe(false);
    expect(existsSync(instancePaths(dstDir, spec.serverId).dir)).toBe(false);
    expect(mapElements()).not.toContain(migrationId);
    expect(events.filter((e) => e.serverId === spec.serverId && e.powerState !== PowerState.Running)).toEqual([]);
    await src.destroy(spec.serverId);
  });

  it('restarted agents take a block migration over from their markers: status, then completion, finish and cleanup', async () => {
    const spec = newSpec({ ephemeralGb: 1 });
    const migrationId = `m-${randomUUID()}`;
    const ids = { serverId: spec.serverId, migrationId };
    const one = { multifdChannels: 0, postcopyAllowed: false };
    const oldSrc = new QemuDriver({ stateDir: srcDir, accelerator, qemuUser: '' });
    const oldDst = new QemuDriver({ stateDir: dstDir, accelerator, qemuUser: '', migration: { ports: PORTS, firewall: { table: TABLE } } });
    await oldSrc.spawn(spec);
    const sourcePid = (await oldSrc.status(spec.serverId)).pid!;
    const prepared = await oldDst.liveMigration!.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: one });
    const slow = { ...FAST, ...one, maxBandwidthBytesPerSec: 1000 };
    await oldSrc.liveMigration!.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port, nbd: prepared.nbd }, parameters: slow, deadline: cmd().deadline });
    // Both agents "die": their monitors go, their QEMUs run on.
    await oldSrc.close();
    await oldDst.close();
    const newSrc = new QemuDriver({ stateDir: srcDir, accelerator, qemuUser: '' });
    const newDst = new QemuDriver({ stateDir: dstDir, accelerator, qemuUser: '', migration: { ports: PORTS, firewall: { table: TABLE } } });
    try {
      await newSrc.adopt();
      await newDst.adopt();
      await expect(newSrc.liveMigration!.status(ids)).resolves.toMatchObject({ phase: 'active' });
      // The start the scheduler sends again is answered, not started twice.
      await newSrc.liveMigration!.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port, nbd: prepared.nbd }, parameters: slow, deadline: cmd().deadline });
      await ops(srcDir, spec.serverId, 'migrate-set-parameters', { 'max-bandwidth': FAST.maxBandwidthBytesPerSec });
      const deadline = Date.now() + 60_000;
      let status = await newSrc.liveMigration!.status(ids);
      while (status.phase !== 'completed' && Date.now() < deadline) {
        expect(status.phase).not.toBe('failed');
        await sleep(100);
        status = await newSrc.liveMigration!.status(ids);
      }
      expect(status.phase).toBe('completed');
      await finish(newDst, ids);
      expect(await newDst.status(spec.serverId)).toMatchObject({ powerState: PowerState.Running });
      expect(mapElements()).not.toContain(migrationId);
      await expect(newSrc.liveMigration!.cleanupSource(ids)).resolves.toBe(true);
      expect(isAlive(sourcePid, spec.serverId)).toBe(false);
      await newDst.destroy(spec.serverId);
    } finally {
      await newSrc.close();
      await newDst.close();
    }
  });

  it('a restarted source agent cancels the migration it did not start; the next one reuses nothing stale', async () => {
    const spec = newSpec({ ephemeralGb: 1 });
    const ids = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    const one = { multifdChannels: 0, postcopyAllowed: false };
    const oldSrc = new QemuDriver({ stateDir: srcDir, accelerator, qemuUser: '' });
    await oldSrc.spawn(spec);
    const prepared = await dst.liveMigration!.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: one });
    const slow = { ...FAST, ...one, maxBandwidthBytesPerSec: 1000 };
    await oldSrc.liveMigration!.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port, nbd: prepared.nbd }, parameters: slow, deadline: cmd().deadline });
    await oldSrc.close();
    const newSrc = new QemuDriver({ stateDir: srcDir, accelerator, qemuUser: '' });
    try {
      await newSrc.adopt();
      await expect(newSrc.liveMigration!.cancel(ids)).resolves.toBe(true);
      expect((await ops<{ status: string }>(srcDir, spec.serverId, 'query-status')).status).toBe('running');
      const nodes = await ops<Array<{ 'node-name'?: string }>>(srcDir, spec.serverId, 'query-named-block-nodes', { flat: true });
      expect(nodes.map((n) => n['node-name']).filter((n) => n?.startsWith('mig-'))).toEqual([]);
      await expect(dst.liveMigration!.abortDestination(ids)).resolves.toBe(true);
      // Migrated again, at full speed, by the new agent.
      const again = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
      const second = await dst.liveMigration!.prepare({ ...again, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: FAST });
      await newSrc.liveMigration!.start({ ...again, destination: { address: '127.0.0.1', port: second.port, nbd: second.nbd }, parameters: FAST, deadline: cmd().deadline });
      const deadline = Date.now() + 60_000;
      let status = await newSrc.liveMigration!.status(again);
      while (status.phase !== 'completed' && Date.now() < deadline) {
        expect(status.phase).not.toBe('failed');
        await sleep(100);
        status = await newSrc.liveMigration!.status(again);
      }
      await finish(dst, again);
      await newSrc.liveMigration!.cleanupSource(again);
      await dst.destroy(spec.serverId);
    } finally {
      await newSrc.close();
    }
  });

  it('after the destination QEMU is killed (block), the source runs on and migrates again at once', async () => {
    const spec = newSpec({ ephemeralGb: 1 });
    const ids = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    await src.spawn(spec);
    const prepared = await dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: CHANNELS });
    const slow = { ...FAST, ...CHANNELS, maxBandwidthBytesPerSec: 1000 };
    await src.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port, nbd: prepared.nbd }, parameters: slow, deadline: cmd().deadline });
    await until(spec.serverId, ids.migrationId, ['active']);
    await killQemu(readPidfile(instancePaths(dstDir, spec.serverId).pidfile)!, spec.serverId);
    const deadline = Date.now() + 20_000;
    let status = await src.liveMigration.status(ids);
    while (status.phase !== 'failed' && Date.now() < deadline) {
      await sleep(50);
      status = await src.liveMigration.status(ids);
    }
    expect(status.phase).toBe('failed');
    await expect(dst.liveMigration.abortDestination(ids)).resolves.toBe(true);
    expect((await ops<{ status: string }>(srcDir, spec.serverId, 'query-status')).status).toBe('running');
    // At once: the failed migration's leftovers in QEMU (yank instance, NBD node) are gone.
    const again = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    const second = await dst.liveMigration.prepare({ ...again, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: CHANNELS });
    await src.liveMigration.start({ ...again, destination: { address: '127.0.0.1', port: second.port, nbd: second.nbd }, parameters: { ...FAST, ...CHANNELS }, deadline: cmd().deadline });
    await until(spec.serverId, again.migrationId, ['completed']);
    await finish(dst, again);
    await src.liveMigration.cleanupSource(again);
    await dst.destroy(spec.serverId);
  });

  it('refuses a connection from another address only on the listener ports', async () => {
    // Control: a plain listener outside the table's map accepts 127.0.0.2.
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(PORTS.max + 1, '127.0.0.1', resolve));
    try {
      expect(await tryConnect(PORTS.max + 1, '127.0.0.2')).toBe('connected');
    } finally {
      server.close();
    }
  });
});
