/**
 * Live migration under faults (issue 8, point 4): whatever breaks before the switch-over, the
 * server runs on its source, exactly once, and can be migrated again; the destination keeps
 * nothing (instance dir, listener openings, taps, placement claim).
 *
 * One test guest (TCG, memwriter running) serves every case: each case starts a migration slowed
 * down by the knob `nubo:live_migration_max_bandwidth=1` (MiB/s, server metadata, read when the
 * migration starts; written straight into the database: Nubo has no server-metadata API) so that it
 * stays in pre-copy, breaks something while the record says `running` (or `preparing`), checks the
 * rollback, then migrates the guest again without the knob; the next case starts from there.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { adminClient, cloud, eventually, hostNumber, instanceDir, processAlive, qemuPid, qmpStatus, withDb } from '../support/cloud';
import { GUEST_READY, consoleOutput, lastMemwriterCounter, testImageId, typeOnSerial, waitForConsole } from '../support/guest';
import { agentPid, hostNs, qemusOf, signalAgent } from '../support/host-faults';
import { leakNames, linkLeaks, nftLeaks } from '../support/network-leaks';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';
const THROTTLE = 'nubo:live_migration_max_bandwidth';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** GET/DELETE /servers/{id}/migrations[/{mid}] exist from 2.23 / 2.24; an abort before `running` needs 2.65. */
const V224 = { 'OpenStack-API-Version': 'compute 2.24' };
const V265 = { 'OpenStack-API-Version': 'compute 2.65' };
const atLeast = (v: string, min: string) => {
  const [a, b] = v.split('.').map(Number);
  const [c, d] = min.split('.').map(Number);
  return a > c || (a === c && b >= d);
};

/** A state that will not change any more: `settle` fails at once instead of waiting it out. */
class Fatal extends Error {}

async function settle<T>(what: string, fn: () => Promise<T | false | undefined>, timeoutMs: number): Promise<T> {
  let fatal: Error | undefined;
  const value = await eventually(what, async () => {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof Fatal)) throw error;
      fatal = error;
      return true as unknown as T;
    }
  }, timeoutMs);
  if (fatal) throw fatal;
  return value;
}

type Free = Record<string, { vcpus: number; ram_mb: number; disk_gb: number }>;

(isRoot ? describe : describe.skip)('live migration faults: the server stays on its source', () => {
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  let id = '';
  let hosts: string[] = [];
  let ports: string[] = [];

  const server = () => admin.getServer(id);
  const hostOf = async () => (await server())['OS-EXT-SRV-ATTR:host'] as string;
  const otherThan = (host: string) => hosts.find((h) => h !== host)!;
  const counter = async () => lastMemwriterCounter(await consoleOutput(admin, id));
  const free = async (): Promise<Free> =>
    Object.fromEntries((await admin.call('GET', '/nubo/v1/hosts', 200)).hosts.map((h: { id: string; free: Free[string] }) => [h.id, h.free]));
  const migration = async (mid: number) =>
    (await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, 200)).migrations.find((m: { id: number }) => m.id === mid);
  let maxVersion = '2.1';
  const abort = (mid: number, headers = V224) => admin.request('DELETE', `/compute/v2.1/servers/${id}/migrations/${mid}`, { headers });
  const inProgress = async (mid?: number) => {
    const res = await admin.request('GET', `/compute/v2.1/servers/${id}/migrations${mid === undefined ? '' : `/${mid}`}`, { headers: V224 });
    if (res.status !== 200) throw new Error(`GET migrations of ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };

  /** Starts a live migration to `dest` (throttled or not) and returns its Nova id. */
  async function start(dest: string, o: { throttled: boolean }): Promise<number> {
    await withDb((db) =>
      db.query(o.throttled ? `UPDATE compute.servers SET metadata = metadata || jsonb_build_object($2::text, '1') WHERE id = $1` : `UPDATE compute.servers SET metadata = metadata - $2 WHERE id = $1`, [id, THROTTLE]),
    );
    const res = await admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { 'os-migrateLive': { host: dest, block_migration: true, disk_over_commit: false } } });
    expect(res.status).toBe(202);
    const { migrations } = await admin.call('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}&migration_type=live-migration`, 200);
    return Math.max(...migrations.map((m: { id: number }) => m.id));
  }

  /** Waits for the migration's status (and, when running, for some RAM on the wire). */
  async function reach(mid: number, status: 'preparing' | 'running'): Promise<void> {
    await settle(`migration ${mid} ${status}`, async () => {
      const m = await migration(mid);
      if (['completed', 'error', 'cancelled'].includes(m?.status)) throw new Fatal(`migration ${mid} ended ${m.status} before the fault`);
      if (m?.status !== status) return false;
      if (status === 'preparing') return true;
      return (await inProgress(mid)).migration.memory_processed_bytes > 0;
    }, 300_000);
  }

  /** Everything point 4 asks of a rolled-back migration, from `source` to `dest`. */
  async function expectRolledBack(mid: number, source: string, dest: string, before: { free: Free; counter: number }): Promise<void> {
    const ended = await eventually(`migration ${mid} to end`, async () => {
      const m = await migration(mid);
      return ['error', 'cancelled', 'completed'].includes(m?.status) && m;
    }, 240_000);
    expect(['error', 'cancelled']).toContain(ended.status);
    const s = await server();
    expect({ status: s.status, task: s['OS-EXT-STS:task_state'], host: s['OS-EXT-SRV-ATTR:host'] }).toEqual({ status: 'ACTIVE', task: null, host: source });
    // Exactly one QEMU of the server, anywhere, and it is the source's, running.
    expect(qemusOf(id).map((q) => q.host)).toEqual([hostNs(hostNumber(source))]);
    expect(await qmpStatus(source, id)).toBe('running');
    // Nothing of it on the destination.
    expect(existsSync(instanceDir(dest, id))).toBe(false);
    await expectNoMigrationOpenings(dest);
    const ns = hostNs(hostNumber(dest));
    const names = leakNames({ networks: [], ports, routers: [] }, 'nubo-e2e');
    await eventually(`no tap of ${id} on ${dest}`, async () => {
      const leaks = [
        ...linkLeaks(ns, (await run('ip', ['-n', ns, '-j', 'link', 'show'])).stdout, names),
        ...nftLeaks(ns, (await run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset'])).stdout, names),
      ];
      if (leaks.length) throw new Error(leaks.join('; '));
      return true;
    });
    // The destination's claim is released: every host has what it had before.
    expect(await free()).toEqual(before.free);
    // The guest went on: memwriter counts past the fault, checksums good.
    const after = await eventually('memwriter past the fault', async () => {
      const c = await counter();
      return c && c.counter > before.counter && c;
    }, 120_000);
    expect(after.ok).toBe(true);
  }

  async function expectNoMigrationOpenings(host: string): Promise<void> {
    const ns = hostNs(hostNumber(host));
    const out = await run('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'nubo_migration']).catch(() => ({ stdout: '' }));
    expect(out.stdout).not.toMatch(/chain mig-|jump mig-/);
  }

  /** The second migration, unthrottled, succeeds: the guest runs once, on `dest`, still counting. */
  async function migratesAgain(): Promise<void> {
    const source = await hostOf();
    const dest = otherThan(source);
    const before = (await counter())!.counter;
    const mid = await start(dest, { throttled: false });
    await settle(`migration ${mid} to complete`, async () => {
      const m = await migration(mid);
      if (['error', 'cancelled'].includes(m?.status)) throw new Fatal(`the migration after the fault ended ${m.status}`);
      return m?.status === 'completed';
    }, 600_000);
    await eventually('ACTIVE and idle on the destination', async () => {
      const s = await server();
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] === dest;
    }, 60_000);
    await eventually('one QEMU, on the destination', async () => JSON.stringify(qemusOf(id).map((q) => q.host)) === JSON.stringify([hostNs(hostNumber(dest))]), 30_000);
    expect(await qmpStatus(dest, id)).toBe('running');
    expect(existsSync(instanceDir(source, id))).toBe(false);
    await expectNoMigrationOpenings(dest);
    const after = await eventually('memwriter past the second migration', async () => {
      const c = await counter();
      return c && c.counter > before && c;
    }, 120_000);
    expect(after.ok).toBe(true);
  }

  /** Starts a throttled migration to another host, waits for `status`, and hands back what to check against. */
  async function throttled(status: 'preparing' | 'running' = 'running') {
    const source = await hostOf();
    const dest = otherThan(source);
    const before = { free: await free(), counter: (await counter())!.counter };
    const mid = await start(dest, { throttled: true });
    await reach(mid, status);
    return { mid, source, dest, before };
  }

  async function killAgent(host: string): Promise<void> {
    const n = hostNumber(host);
    const pid = agentPid(n);
    signalAgent(n, 'SIGKILL');
    await eventually(`agent ${n} (pid ${pid}) to die`, async () => !processAlive(pid), 10_000);
  }

  beforeAll(async () => {
    admin = await adminClient();
    hosts = (await admin.call('GET', '/nubo/v1/hosts', 200)).hosts.map((h: { id: string }) => h.id);
    maxVersion = (await admin.call('GET', '/compute/v2.1', 200)).version.version;
    const imageRef = await testImageId(admin);
    id = await admin.createServer({ name: `lmf-${tag}`, flavorRef: M1_TINY, imageRef });
    const source = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    ports = (await admin.call('GET', `/network/v2.0/ports?device_id=${id}`, 200)).ports.map((p: { id: string }) => p.id);
    await waitForConsole(admin, id, GUEST_READY);
    await typeOnSerial(source, id, 'memwriter 8 1 1 &');
    await waitForConsole(admin, id, 'NUBO-MEMWRITER: counter', 2);
  });

  /** A case that failed may leave its migration running: abort it so the next case starts idle. */
  afterEach(async () => {
    for (let n = 1; n <= hosts.length; n++) {
      if (!processAlive(agentPid(n))) cloud('start-agent', String(n));
    }
    const { migrations } = await inProgress();
    for (const m of migrations) await abort(m.id);
    await eventually('the server idle', async () => (await server())['OS-EXT-STS:task_state'] === null, 300_000).catch(() => undefined);
  });

  afterAll(async () => {
    if (id) {
      await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      await admin.waitForGone(id, 120_000).catch(() => undefined);
    }
  });

  it('(1) destination agent killed -9 during pre-copy, restarted: rolled back, migrates again', async () => {
    const { mid, source, dest, before } = await throttled();
    await killAgent(dest);
    await sleep(3_000);
    cloud('start-agent', String(hostNumber(dest)));
    await expectRolledBack(mid, source, dest, before);
    await migratesAgain();
  });

  it('(2) destination QEMU killed -9 during pre-copy: rolled back, migrates again', async () => {
    const { mid, source, dest, before } = await throttled();
    const pid = qemuPid(dest, id)!;
    expect(qemusOf(id).map((q) => q.host).sort()).toEqual([hostNs(hostNumber(source)), hostNs(hostNumber(dest))].sort());
    process.kill(pid, 'SIGKILL');
    await expectRolledBack(mid, source, dest, before);
    await migratesAgain();
  });

  it('(3) source agent killed -9 and restarted mid-way: the restarted agent still controls the migration (aborted), migrates again', async () => {
    const { mid, source, dest, before } = await throttled();
    const qemu = qemuPid(source, id)!;
    await killAgent(source);
    await sleep(2_000);
    cloud('start-agent', String(hostNumber(source)));
    // The poll goes on with the new agent: progress moves again, the guest still runs once.
    const seen = (await inProgress(mid)).migration.memory_processed_bytes;
    await eventually('progress reported by the restarted agent', async () => (await inProgress(mid)).migration.memory_processed_bytes > seen, 120_000);
    expect(qemuPid(source, id)).toBe(qemu);
    expect((await abort(mid)).status).toBe(202);
    await expectRolledBack(mid, source, dest, before);
    await migratesAgain();
  });

  it('(4) the destination underlay cut during pre-copy: the stalled migration is rolled back, migrates again', async () => {
    const { mid, source, dest, before } = await throttled();
    const ns = hostNs(hostNumber(dest));
    // Longer than the scheduler's stall limit (NUBO_LIVE_MIGRATION_STALL_MS, 15 s): TCP alone would wait for minutes.
    await run('ip', ['-n', ns, 'link', 'set', 'ul0', 'down']);
    try {
      await sleep(25_000);
    } finally {
      await run('ip', ['-n', ns, 'link', 'set', 'ul0', 'up']);
    }
    await expectRolledBack(mid, source, dest, before);
    await migratesAgain();
  });

  it('(5) abort while preparing (2.65), while running, and twice in a row: cancelled each time, migrates again', async () => {
    // Before 2.65 Nova refuses an abort until the migration runs (409) and nothing changes.
    const preparing = await throttled('preparing');
    if (atLeast(maxVersion, '2.65')) {
      expect((await abort(preparing.mid, V265)).status).toBe(202);
      await expectRolledBack(preparing.mid, preparing.source, preparing.dest, preparing.before);
      expect((await migration(preparing.mid)).status).toBe('cancelled');
    } else {
      console.log(`the API's microversions stop at ${maxVersion}: an abort while preparing is refused`);
      const early = await abort(preparing.mid);
      // 409 while it still prepares; by the time the request lands it may already run (202).
      if (early.status === 409) {
        expect((await migration(preparing.mid)).status).toMatch(/^(preparing|running)$/);
        await reach(preparing.mid, 'running');
        expect((await abort(preparing.mid)).status).toBe(202);
      } else {
        expect(early.status).toBe(202);
      }
      await expectRolledBack(preparing.mid, preparing.source, preparing.dest, preparing.before);
    }
    const { mid, source, dest, before } = await throttled('running');
    expect((await abort(mid)).status).toBe(202);
    // Asked again before the first is done: accepted (the same request) or refused once closed.
    expect([202, 409]).toContain((await abort(mid)).status);
    await expectRolledBack(mid, source, dest, before);
    expect((await migration(mid)).status).toBe('cancelled');
    expect((await abort(mid)).status).toBe(409);
    await migratesAgain();
  });
});
