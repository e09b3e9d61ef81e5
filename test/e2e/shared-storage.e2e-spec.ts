/**
 * Shared storage on the e2e cloud: every host mounts <state>/shared (cloud.sh), and a flavor with
 * `nubo:storage=shared` puts a server's disks there. The test guest (nubo-test, TCG) boots from
 * such a flavor; a live migration then moves only its RAM: the destination opens the very same
 * disk file (same inode, no copy), a file written in the guest before the move reads back after it
 * (past the page cache), the guest's memory counter keeps counting, and QEMU runs on the
 * destination only. Block migration is refused for it (Nova's pre-check), a resize to a local
 * flavor too; a cold migration (migrate, confirm) copies nothing and the guest boots from the same
 * disk there; the deletion of the server removes its shared disks.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cmdline, eventually, hostNumber, instanceDir, netnsOf, processAlive, qemuPid, qmpStatus } from '../support/cloud';
import { E2E, openrcPath } from '../support/e2e-env';
import { GUEST_READY, consoleOutput, lastMemwriterCounter, testImageId, typeOnSerial, waitForConsole } from '../support/guest';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';
const REPORT = 'NUBO-MEMWRITER: counter';
const at = (version: string) => ({ headers: { 'OpenStack-API-Version': `compute ${version}` } });

(isRoot ? describe : describe.skip)('shared storage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-shst-'));
  const tag = Date.now().toString(36);
  const flavorName = `shared-${tag}`;
  let admin: OpenStackClient;
  let id = '';
  let flavorId = '';
  let source = '';

  const osc = (...args: string[]) =>
    run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...openrcEnv(openrcPath) }, timeout: 600_000 });
  const sharedDisk = () => join(E2E.NUBO_STATE_DIR, 'shared', 'instances', id, 'disk.qcow2');
  const migrateLive = (body: Record<string, unknown>, version = '2.25') =>
    admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { 'os-migrateLive': body }, ...at(version) });

  async function runsOnlyOn(host: string, from: string) {
    const pid = qemuPid(host, id)!;
    expect(processAlive(pid)).toBe(true);
    expect(netnsOf(pid)).toBe(`nubo-e2e-h${hostNumber(host)}`);
    expect(await qmpStatus(host, id)).toBe('running');
    await eventually('the source QEMU to end', async () => {
      const old = qemuPid(from, id);
      return old === undefined || !processAlive(old);
    });
    // The host directory holds sockets and logs; the disk stays on shared storage.
    expect(existsSync(join(instanceDir(host, id), 'disk.qcow2'))).toBe(false);
  }

  beforeAll(async () => {
    admin = await adminClient();
    const tiny = (await admin.call('GET', `/compute/v2.1/flavors/${M1_TINY}`, 200)).flavor;
    const created = await osc('flavor', 'create', '--vcpus', String(tiny.vcpus), '--ram', String(tiny.ram), '--disk', String(tiny.disk), '--property', 'nubo:storage=shared', flavorName, '-f', 'json');
    flavorId = JSON.parse(created.stdout).id;
    const imageRef = await testImageId(admin);
    id = await admin.createServer({ name: `shst-${tag}`, flavorRef: flavorId, imageRef });
    source = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    await waitForConsole(admin, id, GUEST_READY);
    await typeOnSerial(source, id, `echo shst-${tag} > /mnt/boot/shst.txt && sync && memwriter 8 1 1 &`);
    await waitForConsole(admin, id, REPORT, 2);
  });

  afterAll(async () => {
    if (id) {
      await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      await admin.waitForGone(id, 120_000).catch(() => undefined);
    }
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the disk on shared storage, and refuses what would copy it or move it off', async () => {
    expect(existsSync(sharedDisk())).toBe(true);
    expect(existsSync(join(instanceDir(source, id), 'disk.qcow2'))).toBe(false);
    expect(cmdline(qemuPid(source, id)!)).toContain(sharedDisk());

    const block = await migrateLive({ host: null, block_migration: true }, '2.25');
    expect(block.status).toBe(400);
    expect(JSON.stringify(block.body)).toContain('Block migration can not be used with shared storage');
    const resize = await admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { resize: { flavorRef: '2' } } });
    expect(resize.status).toBe(400);
    expect(JSON.stringify(resize.body)).toContain('nubo:storage');
    expect((await admin.getServer(id))['OS-EXT-STS:task_state']).toBeNull();
  });

  it('openstack server migrate --live-migration --shared-migration moves the RAM only: the same disk file, the data on it', async () => {
    const inode = statSync(sharedDisk()).ino;
    const before = lastMemwriterCounter(await consoleOutput(admin, id))!.counter;
    await osc('--os-compute-api-version', '2.24', 'server', 'migrate', '--live-migration', '--shared-migration', '--wait', id);
    const server = await admin.getServer(id);
    expect(server.status).toBe('ACTIVE');
    const dest = server['OS-EXT-SRV-ATTR:host'] as string;
    expect(dest).not.toBe(source);
    await runsOnlyOn(dest, source);
    expect(statSync(sharedDisk()).ino).toBe(inode);

    const after = await eventually('memwriter to report past the migration', async () => {
      const c = lastMemwriterCounter(await consoleOutput(admin, id));
      return c && c.counter > before && c;
    }, 120_000);
    expect(after.ok).toBe(true);
    await typeOnSerial(dest, id, `sync; echo 3 > /proc/sys/vm/drop_caches; echo NUBO-SHST""-READ $(cat /mnt/boot/shst.txt)`);
    await waitForConsole(admin, id, `NUBO-SHST-READ shst-${tag}`);

    const { migrations } = await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, 200);
    expect(migrations[0]).toMatchObject({ status: 'completed', source_compute: source, dest_compute: dest });

    // And back with block_migration "auto": shared storage again, no copy.
    expect((await migrateLive({ host: source, block_migration: 'auto' }, '2.30')).status).toBe(202);
    await eventually('the server back on its first host', async () => {
      const s = await admin.getServer(id);
      return s['OS-EXT-SRV-ATTR:host'] === source && s['OS-EXT-STS:task_state'] === null && s;
    }, 300_000);
    await runsOnlyOn(source, dest);
    expect(statSync(sharedDisk()).ino).toBe(inode);
    await typeOnSerial(source, id, `sync; echo 3 > /proc/sys/vm/drop_caches; echo NUBO-SHST""-BACK $(cat /mnt/boot/shst.txt)`);
    await waitForConsole(admin, id, `NUBO-SHST-BACK shst-${tag}`);
  });

  it('a cold migration moves nothing either: the same disk on the new host, kept by confirm', async () => {
    const inode = statSync(sharedDisk()).ino;
    const from = (await admin.getServer(id))['OS-EXT-SRV-ATTR:host'] as string;
    await osc('server', 'migrate', '--wait', id);
    const moved = await admin.getServer(id);
    expect(moved.status).toBe('VERIFY_RESIZE');
    const to = moved['OS-EXT-SRV-ATTR:host'] as string;
    expect(to).not.toBe(from);
    await osc('server', 'migrate', 'confirm', id);
    await eventually('ACTIVE after confirm', async () => (await admin.getServer(id)).status === 'ACTIVE', 120_000);
    await runsOnlyOn(to, from);
    expect(statSync(sharedDisk()).ino).toBe(inode);
    // A fresh boot there (the console log is the new host's own).
    await waitForConsole(admin, id, GUEST_READY);
    await typeOnSerial(to, id, `echo NUBO-SHST""-COLD $(cat /mnt/boot/shst.txt)`);
    await waitForConsole(admin, id, `NUBO-SHST-COLD shst-${tag}`);
  });

  it('deleting the server removes its shared disks', async () => {
    const disks = join(E2E.NUBO_STATE_DIR, 'shared', 'instances', id);
    expect(existsSync(disks)).toBe(true);
    await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    await admin.waitForGone(id, 120_000);
    id = '';
    expect(existsSync(disks)).toBe(false);
  });
});

