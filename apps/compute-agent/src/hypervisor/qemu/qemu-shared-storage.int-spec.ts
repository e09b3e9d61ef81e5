/**
 * Shared storage with two real QEMUs: two QemuDrivers on two state dirs (two hosts) mount one
 * shared directory. A `storage: shared` instance keeps its disks there; a live migration without
 * block copy hands the same file to the destination; cleanup of the source and the abort of a
 * destination never touch it; only the deletion of the server does. Firmware-only guests with an
 * ephemeral disk (the disk that lives on shared storage here), KVM when /dev/kvm works, else TCG.
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, MigrationParameters, PowerState } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { isAlive, killQemu, readPidfile, sleep } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const TABLE = 'nubo_shst_it';
const PORTS = { min: 47200, max: 47299 };
const CHANNELS = { multifdChannels: 0, postcopyAllowed: false };
const FAST: MigrationParameters = { maxBandwidthBytesPerSec: 10 * 2 ** 30, downtimeLimitMs: 300, multifdChannels: 0, autoConverge: true, postcopyAllowed: false };
const MARKER_IO = 'qemu-io -d /machine/peripheral/disk1/virtio-backend';

const describeIt = process.env.NUBO_DATABASE_URL ? describe : describe.skip;

describeIt('shared storage (two real QEMUs, one shared directory)', () => {
  const root = mkdtempSync(join(tmpdir(), 'shst-'));
  const srcDir = join(root, 's');
  const dstDir = join(root, 'd');
  const sharedDir = join(root, 'shared');
  const accelerator = resolveAccelerator('auto');
  const src = new QemuDriver({ stateDir: srcDir, sharedDir, accelerator, qemuUser: '', migration: { ports: PORTS, firewall: { table: TABLE } } });
  const dst = new QemuDriver({ stateDir: dstDir, sharedDir, accelerator, qemuUser: '', migration: { ports: PORTS, firewall: { table: TABLE } } });
  const serverIds: string[] = [];

  const newSpec = (extra: Partial<InstanceSpec> = {}): InstanceSpec => {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { serverId, vcpus: 1, ramMb: 128, diskGb: 0, ephemeralGb: 1, storage: 'shared', accelerator, ...extra };
  };
  const sharedEphemeral = (serverId: string) => join(sharedDir, 'instances', serverId, 'ephemeral.qcow2');

  async function hmp(stateDir: string, serverId: string, commandLine: string): Promise<string> {
    const client = await QmpClient.connect(instancePaths(stateDir, serverId).qmpOps);
    try {
      return await client.execute<string>('human-monitor-command', { 'command-line': commandLine });
    } finally {
      client.close();
    }
  }

  async function migrate(spec: InstanceSpec): Promise<{ serverId: string; migrationId: string }> {
    const ids = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    const prepared = await dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: CHANNELS });
    expect(prepared.nbd).toBeUndefined();
    await src.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port }, parameters: FAST, deadline: Date.now() + 60_000 });
    for (const deadline = Date.now() + 30_000; ; ) {
      const status = await src.liveMigration.status(ids);
      if (status.phase === 'completed') break;
      if (status.phase === 'failed' || Date.now() > deadline) throw new Error(`migration ${status.phase}: ${status.error ?? ''}`);
      await sleep(50);
    }
    for (let tries = 0; ; tries++) {
      try {
        await dst.liveMigration.finish(ids);
        return ids;
      } catch (error) {
        if (tries > 100 || !/has not completed here/.test((error as Error).message)) throw error;
        await sleep(50);
      }
    }
  }

  beforeAll(() => Logger.overrideLogger(['error']));

  afterAll(async () => {
    await src.close();
    await dst.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    try {
      execFileSync('nft', ['delete', 'table', 'inet', TABLE], { stdio: 'ignore' });
    } catch {
      // Never made, or gone already.
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('keeps the disks on shared storage and the rest in the host directory', async () => {
    const spec = newSpec();
    await src.spawn(spec);
    const local = instancePaths(srcDir, spec.serverId);
    expect(existsSync(sharedEphemeral(spec.serverId))).toBe(true);
    expect(existsSync(local.ephemeral)).toBe(false);
    expect(existsSync(local.qmp)).toBe(true);
    // The file QEMU really has open is the shared one.
    const pid = readPidfile(local.pidfile)!;
    const open = execFileSync('ls', ['-l', `/proc/${pid}/fd`], { encoding: 'utf8' });
    expect(open).toContain(sharedEphemeral(spec.serverId));
    // Stop and start: the same shared disk, not a new one.
    const inode = lstatSync(sharedEphemeral(spec.serverId)).ino;
    await src.stop(spec.serverId, { graceSeconds: 0 });
    await src.start(spec);
    expect(lstatSync(sharedEphemeral(spec.serverId)).ino).toBe(inode);
    await src.destroy(spec.serverId, { deleteSharedDisks: true });
    expect(existsSync(join(sharedDir, 'instances', spec.serverId))).toBe(false);
  });

  it('migrates without copying: the destination opens the same file, data written before is there, the source cleanup leaves it', async () => {
    const spec = newSpec();
    await src.spawn(spec);
    expect(await hmp(srcDir, spec.serverId, `${MARKER_IO} "write -P 0x6b 2M 1M"`)).not.toMatch(/error/i);
    const ids = await migrate(spec);
    expect((await dst.status(spec.serverId)).powerState).toBe(PowerState.Running);
    const sourcePid = (await src.status(spec.serverId)).pid;
    await expect(src.liveMigration.cleanupSource(ids)).resolves.toBe(true);
    expect(isAlive(sourcePid, spec.serverId)).toBe(false);
    expect(existsSync(instancePaths(srcDir, spec.serverId).dir)).toBe(false);
    // The disk is still there, in use by the destination (its write lock), with the marker.
    expect(existsSync(sharedEphemeral(spec.serverId))).toBe(true);
    expect(() => execFileSync('qemu-img', ['info', '-f', 'qcow2', sharedEphemeral(spec.serverId)], { stdio: 'pipe' })).toThrow(/lock/);
    const read = await hmp(dstDir, spec.serverId, `${MARKER_IO} "read -P 0x6b 2M 1M"`);
    expect(read).not.toMatch(/verification failed|error/i);

    // And back again: the same file moves back to the first host.
    const back = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    const prepared = await src.liveMigration.prepare({ ...back, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: CHANNELS });
    await dst.liveMigration.start({ ...back, destination: { address: '127.0.0.1', port: prepared.port }, parameters: FAST, deadline: Date.now() + 60_000 });
    for (const deadline = Date.now() + 30_000; (await dst.liveMigration.status(back)).phase !== 'completed'; ) {
      if (Date.now() > deadline) throw new Error('the migration back did not complete');
      await sleep(50);
    }
    for (let tries = 0; ; tries++) {
      const done = await src.liveMigration.finish(back).then(
        () => true,
        (error: Error) => (tries > 100 || !/has not completed here/.test(error.message) ? Promise.reject(error) : false),
      );
      if (done) break;
      await sleep(50);
    }
    await dst.liveMigration.cleanupSource(back);
    expect(await hmp(srcDir, spec.serverId, `${MARKER_IO} "read -P 0x6b 2M 1M"`)).not.toMatch(/verification failed|error/i);
    // A destroy that is not a deletion (a copy left behind elsewhere) leaves the disks.
    await dst.destroy(spec.serverId);
    expect(existsSync(sharedEphemeral(spec.serverId))).toBe(true);
    await src.destroy(spec.serverId, { deleteSharedDisks: true });
    expect(existsSync(join(sharedDir, 'instances', spec.serverId))).toBe(false);
  });

  it('an aborted destination leaves the shared disk to the source, which keeps running and migrates again', async () => {
    const spec = newSpec();
    await src.spawn(spec);
    const ids = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    await dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: CHANNELS });
    await expect(dst.liveMigration.abortDestination(ids)).resolves.toBe(true);
    expect(existsSync(sharedEphemeral(spec.serverId))).toBe(true);
    expect((await src.status(spec.serverId)).powerState).toBe(PowerState.Running);
    await migrate(spec);
    expect((await dst.status(spec.serverId)).powerState).toBe(PowerState.Running);
    await dst.destroy(spec.serverId, { deleteSharedDisks: true });
    await src.destroy(spec.serverId);
    expect(existsSync(join(sharedDir, 'instances', spec.serverId))).toBe(false);
  });

  it('refuses a destination whose shared disk is missing, and a shared instance on a host without shared storage', async () => {
    const spec = newSpec();
    const ids = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    // A block migration would mirror the shared disks onto themselves.
    await expect(dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: CHANNELS })).rejects.toThrow(
      /onto themselves/,
    );
    // Nothing made the disks (no source runs): the destination must not make blank ones.
    await expect(dst.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: CHANNELS })).rejects.toThrow(
      /shared disk .* is missing/,
    );
    expect(existsSync(sharedEphemeral(spec.serverId))).toBe(false);
    expect(existsSync(instancePaths(dstDir, spec.serverId).dir)).toBe(false);
    const lonely = new QemuDriver({ stateDir: join(root, 'lonely'), accelerator, qemuUser: '' });
    try {
      await expect(lonely.spawn(newSpec())).rejects.toThrow(/no shared storage/);
      expect(existsSync(join(root, 'lonely', 'instances'))).toBe(false);
    } finally {
      await lonely.close();
    }
  });
});
