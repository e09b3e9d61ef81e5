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

    await dst.liveMigration.finish(ids);
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
    await dst.liveMigration.finish(ids);

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
