/**
 * Live migration of a running Linux guest (nubo-test under TCG) between two hosts of the e2e
 * cloud, driven by the stock CLI and by the API, checked inside the guest (memwriter keeps
 * counting with good checksums, a file written before the move is read back from the migrated
 * disk), on the hosts (QEMU runs on the destination in its namespace, not on the source) and
 * through the API (host, status, the migration record) and on NATS (the scheduler's progress
 * events on `server.<id>.migration`, read with the nats package). The CLI at the microversions its
 * migration commands need: 2.30 to name a host, 2.23 for the migration type, 2.24 to show and
 * abort, 2.22 to force completion. The abort case needs a migration that stays running: that one
 * migration is slowed down by the per-server knob `nubo:live_migration_max_bandwidth=1` (MiB/s,
 * server metadata written straight into the database: Nubo has no server-metadata API).
 */
import { OpenStackClient } from '@nubo/client';
import { MigrationProgressEvent } from '@nubo/contracts';
import { connect } from 'nats';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cloudEnv, demoClient, eventually, hostNumber, netnsOf, processAlive, qemuPid, qmpStatus, withDb } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { GUEST_READY, consoleOutput, lastMemwriterCounter, occurrences, testImageId, typeOnSerial, waitForConsole } from '../support/guest';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';
const REPORT = 'NUBO-MEMWRITER: counter';
const at = (version: string) => ({ headers: { 'OpenStack-API-Version': `compute ${version}` } });
const THROTTLE = 'nubo:live_migration_max_bandwidth';

/**
 * Every progress event of the server's live migrations from now on, as published on NATS (Nest's
 * envelope: the event is the message's `data`). The subject is spelled out: it is an interface.
 */
async function watchMigration(serverId: string): Promise<{ events: MigrationProgressEvent[]; close: () => Promise<void> }> {
  const nc = await connect({ servers: cloudEnv().NUBO_NATS_URL, name: 'e2e-live-migration' });
  const events: MigrationProgressEvent[] = [];
  const sub = nc.subscribe(`server.${serverId}.migration`, {
    callback: (error, msg) => {
      if (!error) events.push((JSON.parse(new TextDecoder().decode(msg.data)) as { data: MigrationProgressEvent }).data);
    },
  });
  await nc.flush();
  return {
    events,
    close: async () => {
      sub.unsubscribe();
      await nc.close();
    },
  };
}

(isRoot ? describe : describe.skip)('live migration of the test guest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-lm-'));
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  let id = '';
  let source: string;

  const osc = (...args: string[]) =>
    run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...openrcEnv(openrcPath) }, timeout: 600_000 });
  const hostOf = async () => (await admin.getServer(id))['OS-EXT-SRV-ATTR:host'] as string;
  const log = () => consoleOutput(admin, id);
  const migrateLive = (body: Record<string, unknown>, as = admin) => as.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { 'os-migrateLive': body } });

  /** The guest runs on `host` (QEMU alive in its namespace, running) and no longer on `from`. */
  async function runsOn(host: string, from: string) {
    const pid = qemuPid(host, id)!;
    expect(processAlive(pid)).toBe(true);
    expect(netnsOf(pid)).toBe(`nubo-e2e-h${hostNumber(host)}`);
    expect(await qmpStatus(host, id)).toBe('running');
    await eventually('the source QEMU to end', async () => {
      const old = qemuPid(from, id);
      return old === undefined || !processAlive(old);
    });
  }

  /** The counter goes on past `before` with good checksums: the guest's RAM came along intact. */
  async function keepsCounting(before: number) {
    const after = await eventually('memwriter to report past the migration', async () => {
      const c = lastMemwriterCounter(await log());
      return c && c.counter > before && c;
    }, 120_000);
    expect(after.ok).toBe(true);
  }

  beforeAll(async () => {
    admin = await adminClient();
    const imageRef = await testImageId(admin);
    id = await admin.createServer({ name: `lm-${tag}`, flavorRef: M1_TINY, imageRef });
    source = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    await waitForConsole(admin, id, GUEST_READY);
    await typeOnSerial(source, id, `echo lm-${tag} > /mnt/boot/lm.txt && sync && memwriter 8 1 1 &`);
    await waitForConsole(admin, id, REPORT, 2);
  });

  afterAll(async () => {
    if (id) {
      await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      await admin.waitForGone(id, 120_000).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad requests before anything moves', async () => {
    const demo = await demoClient();
    expect((await migrateLive({ host: null, block_migration: true, disk_over_commit: false }, demo)).status).toBe(404); // another project's server
    const same = await migrateLive({ host: source, block_migration: true, disk_over_commit: false });
    expect(same.status).toBe(400);
    expect(JSON.stringify(same.body)).toContain('current host');
    expect((await migrateLive({ host: 'no-such-host', block_migration: true, disk_over_commit: false })).status).toBe(400);
    expect((await migrateLive({ host: null, block_migration: true })).status).toBe(400);
    // Local disks cannot stay behind: Nova's shared-storage pre-check.
    expect((await migrateLive({ host: null, block_migration: false, disk_over_commit: false })).status).toBe(400);
    expect(await hostOf()).toBe(source);
    expect((await admin.getServer(id))['OS-EXT-STS:task_state']).toBeNull();
  });

  it('openstack server migrate --live-migration --block-migration --wait moves the running guest', async () => {
    const before = lastMemwriterCounter(await log())!.counter;
    const watch = await watchMigration(id);
    try {
      await osc('server', 'migrate', '--live-migration', '--block-migration', '--wait', id);
      await eventually('the final progress event', async () => watch.events.some((e) => e.status === 'completed'), 30_000);
    } finally {
      await watch.close();
    }
    const server = await admin.getServer(id);
    expect(server.status).toBe('ACTIVE');
    expect(server['OS-EXT-STS:task_state']).toBeNull();
    const dest = server['OS-EXT-SRV-ATTR:host'] as string;
    expect(dest).not.toBe(source);
    await runsOn(dest, source);
    await keepsCounting(before);

    // The disk came along: a file written before the move, read back past the page cache.
    await typeOnSerial(dest, id, `sync; echo 3 > /proc/sys/vm/drop_caches; echo NUBO-LM""-READ $(cat /mnt/boot/lm.txt)`);
    await waitForConsole(admin, id, `NUBO-LM-READ lm-${tag}`);

    const { migrations } = await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, 200);
    expect(migrations).toHaveLength(1);
    expect(migrations[0]).toMatchObject({ status: 'completed', source_compute: source, dest_compute: dest, instance_uuid: id });

    // Progress on NATS: each status in order, the polls' processed bytes growing, then the final event.
    const { events } = watch;
    expect(events.every((e) => e.serverId === id && e.migrationNumber === migrations[0].id && e.sourceHost === source)).toBe(true);
    expect(events.map((e) => e.status).filter((st, i, all) => st !== all[i - 1])).toEqual(['preparing', 'running', 'post-migrating', 'completed']);
    const polled = events.filter((e) => e.status === 'running' && e.phase !== null);
    const processed = polled.map((e) => e.memory.processedBytes + (e.disk?.processedBytes ?? 0));
    expect(processed.length).toBeGreaterThanOrEqual(2);
    expect(processed).toEqual([...processed].sort((a, b) => a - b));
    expect(processed.at(-1)!).toBeGreaterThan(processed[0]);
    // While the disks are mirrored (block migration) and in QEMU's setup, RAM totals are 0: they are known once active.
    expect(polled.every((e) => e.destHost === dest)).toBe(true);
    const active = polled.filter((e) => e.phase === 'active');
    expect(active.length).toBeGreaterThan(0);
    expect(active.every((e) => e.memory.totalBytes > 0)).toBe(true);
    const final = events.at(-1)!;
    expect(final).toMatchObject({ status: 'completed', phase: 'completed', destHost: dest, memory: { remainingBytes: 0 } });
    expect(final.memory.processedBytes).toBeGreaterThanOrEqual(polled.at(-1)!.memory.processedBytes);
    expect(final.disk).toMatchObject({ remainingBytes: 0 });
    const { stdout } = await osc('server', 'migration', 'list', '--server', id, '-f', 'json');
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ Status: 'completed', 'Source Compute': source, 'Dest Compute': dest })]);
    // Nothing in progress any more (the list exists from 2.23).
    expect((await admin.request('GET', `/compute/v2.1/servers/${id}/migrations`)).status).toBe(404);
    const inProgress = await admin.request('GET', `/compute/v2.1/servers/${id}/migrations`, at('2.23'));
    expect(inProgress.status).toBe(200);
    expect(inProgress.body.migrations).toEqual([]);
  });

  it('moves back to the host an admin names (the API at 2.1), the guest still counting', async () => {
    const from = await hostOf();
    const before = lastMemwriterCounter(await log())!.counter;
    expect((await migrateLive({ host: source, block_migration: true, disk_over_commit: false })).status).toBe(202);
    expect((await admin.getServer(id)).status).toBe('MIGRATING');
    // A second request meanwhile: 409.
    expect((await migrateLive({ host: null, block_migration: true, disk_over_commit: false })).status).toBe(409);
    await eventually('ACTIVE on the named host', async () => {
      const s = await admin.getServer(id);
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] === source;
    }, 600_000);
    await runsOn(source, from);
    await keepsCounting(before);
    expect(occurrences(await log(), 'NUBO-MEMWRITER: started')).toBeLessThanOrEqual(1);
    // Completed once the source QEMU is gone (the server is ACTIVE on the destination before that, as in Nova).
    await eventually('two completed migrations', async () =>
      (await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}&status=completed`, 200)).migrations.length === 2,
    );
  });

  it('openstack --os-compute-api-version 2.30 server migrate --live-migration --host H --wait moves to H', async () => {
    const from = await hostOf();
    const { hypervisors } = await admin.call('GET', '/compute/v2.1/os-hypervisors', 200);
    const target = hypervisors.map((h: { hypervisor_hostname: string }) => h.hypervisor_hostname).find((h: string) => h !== from) as string;
    const before = lastMemwriterCounter(await log())!.counter;
    await osc('--os-compute-api-version', '2.30', 'server', 'migrate', '--live-migration', '--host', target, '--wait', id);
    const server = await admin.getServer(id);
    expect(server).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': target, 'OS-EXT-STS:task_state': null });
    await runsOn(target, from);
    await keepsCounting(before);
    // 2.23's list names the type; 2.1's does not.
    const listed = await eventually('the migration completed in the list', async () => {
      const { stdout } = await osc('--os-compute-api-version', '2.23', 'server', 'migration', 'list', '--server', id, '-f', 'json');
      const all = JSON.parse(stdout) as Array<Record<string, unknown>>;
      const newest = all.reduce((a, b) => (Number(b.Id) > Number(a.Id) ? b : a));
      return newest.Status === 'completed' && all;
    });
    expect(listed).toContainEqual(expect.objectContaining({ Status: 'completed', Type: 'live-migration', 'Source Compute': from, 'Dest Compute': target }));
    expect(listed.every((m) => typeof m.Id === 'number')).toBe(true);
    // The server at 2.30 answers with every field the versions up to it add.
    const shown = (await admin.request('GET', `/compute/v2.1/servers/${id}`, at('2.30'))).body.server;
    expect(shown).toMatchObject({ locked: false, tags: [], description: null, host_status: 'UP' });
  });

  it('server migration show and abort (2.24) stop a running migration; force complete (2.22) is refused after', async () => {
    const from = await hostOf();
    // 1 MiB/s for this server's migrations (read when one starts): it cannot converge on its own.
    await withDb((db) => db.query(`UPDATE compute.servers SET metadata = metadata || jsonb_build_object($2::text, '1') WHERE id = $1`, [id, THROTTLE]));
    try {
      await showAndAbort(from);
    } finally {
      await withDb((db) => db.query(`UPDATE compute.servers SET metadata = metadata - $2 WHERE id = $1`, [id, THROTTLE]));
    }
  });

  async function showAndAbort(from: string) {
    expect((await admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { 'os-migrateLive': { host: null, block_migration: 'auto' } }, ...at('2.25') })).status).toBe(202);
    const n = await eventually('the migration to run', async () => {
      const reply = await admin.request('GET', `/compute/v2.1/servers/${id}/migrations`, at('2.23'));
      const m = reply.body.migrations?.[0];
      return m?.status === 'running' && (m.id as number);
    }, 120_000);

    const { stdout } = await osc('--os-compute-api-version', '2.24', 'server', 'migration', 'show', id, String(n), '-f', 'json');
    expect(JSON.parse(stdout)).toMatchObject({ ID: n, 'Server UUID': id, 'Source Compute': from, Status: expect.stringMatching(/running|post-migrating/) });
    await osc('--os-compute-api-version', '2.24', 'server', 'migration', 'abort', id, String(n));

    await eventually('ACTIVE on the source again', async () => {
      const s = await admin.getServer(id);
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] === from;
    }, 300_000);
    expect(await qmpStatus(from, id)).toBe('running');
    const { migrations } = await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, 200);
    expect(migrations.find((m: { id: number }) => m.id === n)).toMatchObject({ status: 'cancelled', source_compute: from });
    // Nothing runs any more: force complete is a 409 (and needs 2.22: 404 before).
    const refused = osc('--os-compute-api-version', '2.22', 'server', 'migration', 'force', 'complete', id, String(n));
    await expect(refused).rejects.toMatchObject({ stderr: expect.stringMatching(/409|Cannot|state/i) });
    expect((await admin.request('POST', `/compute/v2.1/servers/${id}/migrations/${n}/action`, { body: { force_complete: null } })).status).toBe(404);
  }

  it('a completed migration is no longer shown, aborted or forced; members may not touch migrations', async () => {
    const { migrations } = await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, 200);
    const n = migrations[0].id;
    expect((await admin.request('GET', `/compute/v2.1/servers/${id}/migrations/${n}`, at('2.23'))).status).toBe(404);
    expect((await admin.request('DELETE', `/compute/v2.1/servers/${id}/migrations/${n}`, at('2.24'))).status).toBe(409);
    const force = await admin.request('POST', `/compute/v2.1/servers/${id}/migrations/${n}/action`, { body: { force_complete: null }, ...at('2.22') });
    expect(force.status).toBe(409);

    const demo = await demoClient();
    expect((await demo.request('GET', '/compute/v2.1/os-migrations')).status).toBe(403);
    const own = await demo.createServer({ name: `lm-member-${tag}`, flavorRef: M1_TINY });
    try {
      await demo.waitForStatus(own, 'ACTIVE', 300_000);
      const refused = await demo.request('POST', `/compute/v2.1/servers/${own}/action`, {
        body: { 'os-migrateLive': { host: null, block_migration: true, disk_over_commit: false } },
      });
      expect(refused.status).toBe(403);
      expect((await demo.request('GET', `/compute/v2.1/servers/${own}/migrations`, at('2.23'))).status).toBe(403);
    } finally {
      await demo.request('DELETE', `/compute/v2.1/servers/${own}`);
      await demo.waitForGone(own, 120_000).catch(() => undefined);
    }
  });
});
