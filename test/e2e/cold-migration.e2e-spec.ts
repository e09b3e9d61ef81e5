/**
 * Cold migration (Nova's `migrate`) of the test guest (nubo-test under TCG, a flavor with an
 * ephemeral disk) between the hosts of the e2e cloud, driven by the stock CLI: `openstack server
 * migrate --wait` ends in VERIFY_RESIZE on another host, then `server migrate confirm` or
 * `server resize revert` end the move. Checked in the guest (a file on its root disk and bytes on
 * its ephemeral disk written before the move are read back), on the hosts (where QEMU runs, by its
 * network namespace; which instance directories exist; no qemu-nbd left; no firewall opening
 * left) and through the API (status, host, the migration record, placement's allocations). A
 * SHUTOFF server stays off. A destination whose qemu-nbd is killed mid-migration leaves the
 * server ACTIVE on its source with nothing left behind, and the next migration succeeds.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, demoClient, eventually, hostNumber, instanceDir, netnsOf, processAlive, qemuPid, qmpStatus, withDb } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { GUEST_READY, consoleOutput, occurrences, testImageId, typeOnSerial, waitForConsole } from '../support/guest';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const at = (version: string) => ({ headers: { 'OpenStack-API-Version': `compute ${version}` } });

/** Live qemu-nbd processes serving a disk of `serverId` (on any host). */
function nbdPids(serverId: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('qemu-nbd') && args.some((a) => a.includes(serverId))) pids.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

/** The migration table of a host's firewall, as text ('' when it has none). */
function openings(hostId: string): string {
  try {
    return execFileSync('ip', ['netns', 'exec', `nubo-e2e-h${hostNumber(hostId)}`, 'nft', 'list', 'table', 'inet', 'nubo_migration'], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

(isRoot ? describe : describe.skip)('cold migration of the test guest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-cm-'));
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  let flavorId = '';
  let id = '';
  let hosts: string[] = [];

  const osc = (...args: string[]) => run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...openrcEnv(openrcPath) }, timeout: 600_000 });
  const server = () => admin.getServer(id);
  const hostOf = async () => (await server())['OS-EXT-SRV-ATTR:host'] as string;
  const migrate = (body: unknown = null) => admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { migrate: body } });
  const lastMigration = async () =>
    (await withDb((db) => db.query(`SELECT id, number, status, source_host, dest_host, cold FROM compute.migrations WHERE server_id = $1 ORDER BY number DESC LIMIT 1`, [id]))).rows[0];
  const allocations = async (migrationId: string) =>
    (await withDb((db) => db.query(`SELECT consumer_id::text AS consumer, host_id FROM compute.allocations WHERE consumer_id = ANY($1::uuid[]) ORDER BY host_id`, [[id, migrationId]]))).rows;

  /** QEMU runs the guest on `host`, in its namespace, and on no other host. */
  async function runsOnlyOn(host: string) {
    const pid = qemuPid(host, id)!;
    expect(processAlive(pid)).toBe(true);
    expect(netnsOf(pid)).toBe(`nubo-e2e-h${hostNumber(host)}`);
    expect(await qmpStatus(host, id)).toBe('running');
    for (const other of hosts.filter((h) => h !== host)) {
      const old = qemuPid(other, id);
      expect(old === undefined || !processAlive(old)).toBe(true);
    }
  }

  /** The guest reads back what was written before the moves: its root disk's file and its ephemeral disk's bytes. */
  async function readsItsDisks(host: string, boots: number, extra = { command: '', says: '' }) {
    await waitForConsole(admin, id, GUEST_READY, boots);
    // A console log goes on across boots on one host: the answer must be a new one.
    const answer = `NUBO-CM-READ cm-${tag} eph-${tag}${extra.says}`;
    const before = occurrences(await consoleOutput(admin, id), answer);
    await typeOnSerial(host, id, `echo NUBO-CM""-READ $(cat /mnt/boot/cm.txt) $(dd if=/dev/vdb bs=512 skip=8 count=1 2>/dev/null | head -n 1)${extra.command}`);
    return waitForConsole(admin, id, answer, before + 1);
  }

  /** No copy of the server on `host`: no instance directory, no qemu-nbd, no firewall opening of `migrationId`. */
  async function nothingLeftOn(host: string, migrationId: string) {
    await eventually(`no instance directory of ${id} on ${host}`, async () => !existsSync(instanceDir(host, id)), 60_000);
    expect(nbdPids(id)).toEqual([]);
    expect(openings(host)).not.toContain(`mig-${migrationId}`);
  }

  beforeAll(async () => {
    admin = await adminClient();
    hosts = (await admin.hosts()).filter((h) => h.state === 'up').map((h) => h.id);
    expect(hosts.length).toBeGreaterThanOrEqual(2);
    const flavor = await admin.call('POST', '/compute/v2.1/flavors', 200, {
      flavor: { name: `cm-eph-${tag}`, ram: 512, vcpus: 1, disk: 1, 'OS-FLV-EXT-DATA:ephemeral': 1 },
    });
    flavorId = flavor.flavor.id;
    id = await admin.createServer({ name: `cm-${tag}`, flavorRef: flavorId, imageRef: await testImageId(admin) });
    const source = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    await waitForConsole(admin, id, GUEST_READY);
    await typeOnSerial(source, id, `echo cm-${tag} > /mnt/boot/cm.txt && echo eph-${tag} | dd of=/dev/vdb bs=512 seek=8 2>/dev/null && sync && echo NUBO-CM""-WROTE`);
    await waitForConsole(admin, id, 'NUBO-CM-WROTE');
  });

  afterAll(async () => {
    if (id) {
      await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      await admin.waitForGone(id, 120_000).catch(() => undefined);
    }
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
    // A spec that failed half-way may leave an export running: it must not outlive the cloud.
    for (const pid of nbdPids(id)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad requests and members before anything moves', async () => {
    const bad = await migrate({});
    expect(bad.status).toBe(400);
    expect(bad.body.badRequest.message).toContain("Invalid input for field/attribute migrate. Value: {}. {} is not of type 'null'");
    expect((await migrate({ host: hosts[0] })).status).toBe(400);
    const demo = await demoClient();
    expect((await demo.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { migrate: null } })).status).toBe(404);
    const own = await demo.createServer({ name: `cm-member-${tag}`, flavorRef: '42' });
    try {
      await demo.waitForStatus(own, 'ACTIVE', 300_000);
      const refused = await demo.request('POST', `/compute/v2.1/servers/${own}/action`, { body: { migrate: null } });
      expect(refused.status).toBe(403);
      expect(refused.body.forbidden.message).toBe("Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed.");
    } finally {
      await demo.request('DELETE', `/compute/v2.1/servers/${own}`);
      await demo.waitForGone(own, 120_000).catch(() => undefined);
    }
    expect(await server()).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null });
  });

  it('openstack server migrate --wait moves the ACTIVE guest, disks and all; server migrate confirm drops the source', async () => {
    const source = await hostOf();
    await osc('server', 'migrate', '--wait', id);
    const moved = await server();
    expect(moved).toMatchObject({ status: 'VERIFY_RESIZE', 'OS-EXT-STS:vm_state': 'resized', 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:power_state': 1 });
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    expect(dest).not.toBe(source);
    await runsOnlyOn(dest);
    // The source keeps its (powered-off) copy until the move is confirmed.
    expect(existsSync(join(instanceDir(source, id), 'disk.qcow2'))).toBe(true);
    // The guest booted on the destination from the migrated disks (its console log there is new).
    const log = await readsItsDisks(dest, 1);
    expect(log).toContain(`NUBO-GUEST: seen ${id}`);

    const m = await lastMigration();
    const { migrations } = (await admin.request('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, at('2.23'))).body;
    expect(migrations[0]).toMatchObject({ id: Number(m.number), status: 'finished', migration_type: 'migration', source_compute: source, dest_compute: dest, instance_uuid: id });
    expect(migrations[0].old_instance_type_id).toEqual(migrations[0].new_instance_type_id);
    // During VERIFY_RESIZE both hosts hold the server (the migration holds the source's claim).
    expect(await allocations(m.id)).toEqual(expect.arrayContaining([{ consumer: id, host_id: dest }, { consumer: m.id, host_id: source }]));
    expect(nbdPids(id)).toEqual([]);
    expect(openings(dest)).not.toContain(`mig-${m.id}`);

    await osc('server', 'migrate', 'confirm', id);
    await eventually('ACTIVE after the confirm', async () => {
      const s = await server();
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] === dest;
    }, 120_000);
    await runsOnlyOn(dest);
    await nothingLeftOn(source, m.id);
    expect(await allocations(m.id)).toEqual([{ consumer: id, host_id: dest }]);
    expect((await lastMigration()).status).toBe('confirmed');
  });

  it('openstack server resize revert puts it back on its source, with the disks it had there', async () => {
    const source = await hostOf();
    const bootsBefore = occurrences(await consoleOutput(admin, id), GUEST_READY);
    await osc('server', 'migrate', '--wait', id);
    const dest = await hostOf();
    expect(dest).not.toBe(source);
    expect((await server()).status).toBe('VERIFY_RESIZE');
    await runsOnlyOn(dest);
    await readsItsDisks(dest, 1);
    // Written on the destination only: the revert goes back to the source's disks, without it.
    await typeOnSerial(dest, id, `echo later > /mnt/boot/later.txt && sync && echo NUBO-CM""-LATER`);
    await waitForConsole(admin, id, 'NUBO-CM-LATER');
    const m = await lastMigration();

    await osc('server', 'resize', 'revert', id);
    await eventually('ACTIVE on the source after the revert', async () => {
      const s = await server();
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] === source;
    }, 300_000);
    await runsOnlyOn(source);
    // The source's console log goes on from before the move: one more boot on it.
    await readsItsDisks(source, bootsBefore + 1, { command: ' $(cat /mnt/boot/later.txt 2>/dev/null || echo NO-LATER)', says: ' NO-LATER' });
    await nothingLeftOn(dest, m.id);
    expect(await allocations(m.id)).toEqual([{ consumer: id, host_id: source }]);
    expect((await lastMigration()).status).toBe('reverted');
  });

  it('a SHUTOFF server migrates and stays SHUTOFF; server resize confirm; it starts there with its disks', async () => {
    await osc('server', 'stop', id);
    await admin.waitForStatus(id, 'SHUTOFF', 120_000);
    const source = await hostOf();
    await osc('server', 'migrate', '--wait', id);
    const moved = await server();
    expect(moved).toMatchObject({ status: 'VERIFY_RESIZE', 'OS-EXT-STS:power_state': 4 });
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    expect(dest).not.toBe(source);
    // Powered off on both hosts: no QEMU anywhere, the disks on the destination.
    for (const host of hosts) {
      const pid = qemuPid(host, id);
      expect(pid === undefined || !processAlive(pid)).toBe(true);
    }
    expect(existsSync(join(instanceDir(dest, id), 'disk.qcow2'))).toBe(true);
    expect(existsSync(join(instanceDir(dest, id), 'ephemeral.qcow2'))).toBe(true);
    const m = await lastMigration();

    await osc('server', 'resize', 'confirm', id);
    const off = await admin.waitForStatus(id, 'SHUTOFF', 120_000);
    expect(off).toMatchObject({ 'OS-EXT-SRV-ATTR:host': dest, 'OS-EXT-STS:task_state': null });
    await nothingLeftOn(source, m.id);

    await osc('server', 'start', id);
    await admin.waitForStatus(id, 'ACTIVE', 120_000);
    await runsOnlyOn(dest);
    await readsItsDisks(dest, 1);
  });

  it('a destination whose qemu-nbd dies leaves the server ACTIVE on its source, nothing behind; the next migration succeeds', async () => {
    const source = await hostOf();
    const bootsBefore = occurrences(await consoleOutput(admin, id), GUEST_READY);
    const pidBefore = qemuPid(source, id);
    expect((await migrate()).status).toBe(202);
    expect((await server()).status).toBe('RESIZE');
    // Killed as soon as it serves (before or while the source guest powers off): the copy cannot connect.
    const killed = await eventually('the destination qemu-nbd', async () => {
      const pids = nbdPids(id);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      return pids.length > 0 && pids;
    }, 120_000);
    expect(killed.length).toBeGreaterThan(0);
    const failed = await eventually('ACTIVE on the source again', async () => {
      const s = await server();
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s;
    }, 300_000);
    expect(failed['OS-EXT-SRV-ATTR:host']).toBe(source);
    await runsOnlyOn(source);
    // A kill before the source's power-off leaves the guest running as it was; after it, the guest boots again.
    await readsItsDisks(source, bootsBefore + (qemuPid(source, id) === pidBefore ? 0 : 1));
    const m = await lastMigration();
    expect(m).toMatchObject({ status: 'error', source_host: source });
    const dest = m.dest_host as string;
    expect(dest).not.toBe(source);
    await nothingLeftOn(dest, m.id);
    expect(await allocations(m.id)).toEqual([{ consumer: id, host_id: source }]);
    // Why, in the action's events (Nova shows a fault on the server only in ERROR).
    const { instanceActions } = await admin.call('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, 200);
    expect(instanceActions[0]).toMatchObject({ action: 'migrate', message: 'Error' });
    const { instanceAction } = await admin.call('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${instanceActions[0].request_id}`, 200);
    expect(instanceAction.events).toContainEqual(expect.objectContaining({ event: 'compute_resize_instance', result: 'Error' }));

    await osc('server', 'migrate', '--wait', id);
    const moved = await server();
    expect(moved.status).toBe('VERIFY_RESIZE');
    expect(moved['OS-EXT-SRV-ATTR:host']).not.toBe(source);
    await runsOnlyOn(moved['OS-EXT-SRV-ATTR:host']);
    await readsItsDisks(moved['OS-EXT-SRV-ATTR:host'], 1);
    await osc('server', 'resize', 'confirm', id);
    await admin.waitForStatus(id, 'ACTIVE', 120_000);
    await nothingLeftOn(source, (await lastMigration()).id);
  });
});
