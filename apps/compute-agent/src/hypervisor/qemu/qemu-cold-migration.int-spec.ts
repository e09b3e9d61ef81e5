/**
 * The QEMU driver's cold migration between two drivers on this machine (two state dirs standing
 * for two hosts, both on 127.0.0.1, no namespace; the listener firewall in a table of this spec's
 * own, removed after): disks, prepare (and its repeat), transfer, finish, abort, against real
 * QEMU, qemu-nbd and qemu-img. Guests are firmware-only with a disk (an overlay on a 1 MiB qcow2
 * base served by a local HTTP server) and an ephemeral disk.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, ImageSource, InstanceSpec, PowerState } from '@nubo/contracts';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccelerator } from './accelerator';
import { MigrationListenerFirewall } from './migration-listener-firewall';
import { instancePaths } from './qemu-argv';
import { killQemu } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const accelerator = resolveAccelerator('auto');
const MiB = 2 ** 20;
const TABLE = 'nubo_coldmig_it';
const isRoot = process.getuid?.() === 0;

const qemuIo = (file: string, command: string) => {
  const out = execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { encoding: 'utf8' });
  if (/verification failed|error/i.test(out)) throw new Error(`qemu-io ${command}: ${out}`);
};
const identical = (a: string, b: string) => execFileSync('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', a, b], { encoding: 'utf8' });
/** Live qemu-nbd processes serving a disk of the server. */
const nbdOf = (serverId: string) =>
  pidsNaming(serverId).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith('qemu-nbd');
    } catch {
      return false;
    }
  });

(isRoot ? describe : describe.skip)('QemuDriver cold migration', () => {
  const hostA = mkdtempSync(join(tmpdir(), 'nubo-cold-a-'));
  const hostB = mkdtempSync(join(tmpdir(), 'nubo-cold-b-'));
  const firewall = new MigrationListenerFirewall({ table: TABLE });
  const ids: string[] = [];
  let http: Server;
  let base: ImageSource;
  let source: QemuDriver;
  let dest: QemuDriver;

  const specOf = (id: string): InstanceSpec => ({ serverId: id, vcpus: 1, ramMb: 64, diskGb: 1, ephemeralGb: 1, image: base });
  const newServer = () => {
    const id = randomUUID();
    ids.push(id);
    return { id, spec: specOf(id), migrationId: randomUUID(), a: instancePaths(hostA, id), b: instancePaths(hostB, id) };
  };

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    // A qcow2 base (as the test guest's image is), 1 MiB of 0xaa.
    const file = join(hostA, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${MiB}`]);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0xaa 0 ${MiB}`, file]);
    const bytes = readFileSync(file);
    rmSync(file);
    http = createServer((req, res) => (req.url === '/base' ? res.writeHead(200, { 'content-length': bytes.length }).end(bytes) : res.writeHead(404).end()));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/base`;
    base = { id: randomUUID(), sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, diskFormat: 'qcow2', url };
    source = new QemuDriver({ stateDir: hostA, accelerator, migration: { firewall: { table: TABLE } } });
    dest = new QemuDriver({ stateDir: hostB, accelerator, migration: { firewall: { table: TABLE } } });
  });

  afterAll(async () => {
    await source.close();
    await dest.close();
    for (const id of ids) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await firewall.removeTable().catch(() => undefined);
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(hostA, { recursive: true, force: true });
    rmSync(hostB, { recursive: true, force: true });
  });

  it('moves a stopped instance: its disks identical on the destination, which boots it; nothing of the copy left', async () => {
    const s = newServer();
    const ref = { serverId: s.id, migrationId: s.migrationId };
    await source.spawn(s.spec);
    await source.stop(s.id, { graceSeconds: 0 });
    qemuIo(s.a.disk, 'write -P 0x11 512k 64k');
    qemuIo(s.a.ephemeral, 'write -P 0x22 4M 4k');

    const described = await source.coldMigration.disks(ref);
    expect(described).toEqual({ disks: [{ name: 'disk', virtualSize: 2 ** 30 }, { name: 'ephemeral', virtualSize: 2 ** 30 }], baseSha256: base.sha256 });
    const input = { ...ref, spec: s.spec, disks: described.disks, baseSha256: described.baseSha256, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1' };
    const prepared = await dest.coldMigration.prepare(input);
    expect(prepared.exports.map((e) => e.disk)).toEqual(['disk', 'ephemeral']);
    // Asked again (a lost answer): the same exports, still served.
    expect(await dest.coldMigration.prepare(input)).toEqual(prepared);
    expect(nbdOf(s.id)).toHaveLength(2);
    // Until finish the destination has no instance of the server.
    expect((await dest.status(s.id)).powerState).toBe(PowerState.NoState);
    expect(await dest.list()).toEqual([]);

    await source.coldMigration.transfer({ ...ref, destination: { address: '127.0.0.1', exports: prepared.exports }, deadline: Date.now() + 60_000 });
    expect(identical(s.a.disk, s.b.disk)).toContain('Images are identical');
    expect(identical(s.a.ephemeral, s.b.ephemeral)).toContain('Images are identical');

    const finished = await dest.coldMigration.finish({ ...ref, spec: s.spec, powerOn: true });
    expect(finished.powerState).toBe(PowerState.Running);
    // Again (a lost answer): the same, nothing started twice.
    expect((await dest.coldMigration.finish({ ...ref, spec: s.spec, powerOn: true })).pid).toBe(finished.pid);
    expect(nbdOf(s.id)).toEqual([]);
    expect(await firewall.close(s.migrationId).then(() => 'closed')).toBe('closed');
    // The source's copy is untouched (powered off) until the move is confirmed or reverted.
    expect((await source.status(s.id)).powerState).toBe(PowerState.Shutdown);
    expect(existsSync(s.a.disk)).toBe(true);
    // abort after finish never touches the instance.
    expect(await dest.coldMigration.abort(ref)).toBe(false);
    expect((await dest.status(s.id)).powerState).toBe(PowerState.Running);
  });

  it('refuses to copy a running guest', async () => {
    const s = newServer();
    await source.spawn(s.spec);
    const ref = { serverId: s.id, migrationId: s.migrationId };
    await expect(source.coldMigration.transfer({ ...ref, destination: { address: '127.0.0.1', exports: [] }, deadline: Date.now() + 10_000 })).rejects.toBeInstanceOf(ConflictError);
  });

  it('abort removes a prepared destination: exports, openings, disks', async () => {
    const s = newServer();
    const ref = { serverId: s.id, migrationId: s.migrationId };
    await dest.coldMigration.prepare({ ...ref, spec: s.spec, disks: [{ name: 'disk', virtualSize: 2 ** 30 }], sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1' });
    expect(existsSync(s.b.disk)).toBe(true);
    expect(await dest.coldMigration.abort(ref)).toBe(true);
    expect(existsSync(s.b.dir)).toBe(false);
    expect(nbdOf(s.id)).toEqual([]);
    expect(await dest.coldMigration.abort(ref)).toBe(false);
  });

  it('keeps a destination powered off when the server was SHUTOFF', async () => {
    const s = newServer();
    const ref = { serverId: s.id, migrationId: s.migrationId };
    await source.spawn(s.spec);
    await source.stop(s.id, { graceSeconds: 0 });
    const described = await source.coldMigration.disks(ref);
    const prepared = await dest.coldMigration.prepare({ ...ref, spec: s.spec, disks: described.disks, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1' });
    await source.coldMigration.transfer({ ...ref, destination: { address: '127.0.0.1', exports: prepared.exports }, deadline: Date.now() + 60_000 });
    const finished = await dest.coldMigration.finish({ ...ref, spec: s.spec, powerOn: false });
    expect(finished.powerState).toBe(PowerState.Shutdown);
    expect(finished.lastExit?.cause).toBe('host-stop');
    // It starts there later from the migrated disks.
    expect((await dest.start(s.spec)).powerState).toBe(PowerState.Running);
  });
});
