/**
 * Host faults on the 3-host cloud (issue 9: "never a VM running twice"), HA servers (`nubo:ha`,
 * shared storage) checked after each one: running exactly once across every namespace, on the
 * host the API says, QMP running, none lost.
 *  - a host vanishes (its agent killed -9, its namespace deleted with everything in it): it is
 *    fenced, its HA servers run again elsewhere; recreated (cloud.sh host-up) it comes back
 *    `disabled` until an admin enables it;
 *  - a host's agent alone cut off the control plane (its NATS packets dropped), its QEMUs running:
 *    failover off, the VMs run on at first, then the agent kills them itself (nobody fences it);
 *    healed, the host waits for an admin and starts nothing by itself;
 *    failover on, the HA servers run again elsewhere, and a sampler (every 100 ms) never sees two
 *    QEMUs of one server; the disk lock of the old QEMU held until it died.
 * Failover is on for this spec (PUT /nubo/v1/failover); every host broken is restored in afterAll.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cloud, eventually, qmpStatus, withDb } from '../support/cloud';
import { E2E, openrcPath } from '../support/e2e-env';
import {
  QemuSampler,
  agentPid,
  cutControlPlane,
  deleteHostNamespace,
  expectConverged,
  healControlPlane,
  hostNs,
  namespaceExists,
  qemusOf,
} from '../support/host-faults';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(600_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const M1_NANO = '42';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** qemu-img info without -U: fails while a QEMU holds the server's shared disk. '' when it opens. */
function diskLockError(serverId: string): string {
  // The HA flavor boots no image: its disk on the shared storage is the flavor's ephemeral one.
  const disk = join(E2E.NUBO_STATE_DIR, 'shared', 'instances', serverId, 'ephemeral.qcow2');
  if (!existsSync(disk)) return `no disk at ${disk}`;
  try {
    execFileSync('qemu-img', ['info', disk], { stdio: 'pipe' });
    return '';
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error);
  }
}
const LOCKED = /Failed to get shared "write" lock/;

/** Alive and not a zombie (a QEMU killed after its parent agent waits for pid 1 to reap it). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

(isRoot ? describe : describe.skip)('host faults: a host vanished, an agent cut off the control plane', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-host-faults-'));
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  let flavorId = '';
  const servers: string[] = [];
  const broken = new Set<number>();

  const osc = (...args: string[]) =>
    run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...openrcEnv(openrcPath) }, timeout: 120_000 });
  const hostState = async (id: string) => withDb(async (db) => (await db.query(`SELECT state FROM compute.hosts WHERE id = $1`, [id])).rows[0]?.state as string);
  const historySince = async (id: string, t0: number) =>
    withDb(async (db) =>
      (await db.query(`SELECT from_state, to_state, reason FROM compute.host_state_history WHERE host_id = $1 AND at >= to_timestamp($2 / 1000.0) ORDER BY id`, [id, t0]))
        .rows as Array<{ from_state: string; to_state: string; reason: string }>,
    );
  const setFailover = (enabled: boolean) => admin.call('PUT', '/nubo/v1/failover', 200, { failover: { enabled } });
  const hostOf = async (id: string) => (await admin.getServer(id))['OS-EXT-SRV-ATTR:host'] as string;

  async function boot(name: string, host: string): Promise<string> {
    const reply = await admin.call('POST', '/compute/v2.1/servers', 202, { server: { name: `${name}-${tag}`, flavorRef: flavorId, availability_zone: `nova:${host}` } });
    servers.push(reply.server.id);
    return reply.server.id;
  }

  async function bootHa(n: number, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await boot(`ha${n}-${i}`, hostNs(n)));
    for (const id of ids) await admin.waitForStatus(id, 'ACTIVE');
    await expectConverged(admin, Object.fromEntries(ids.map((id) => [id, 'ACTIVE' as const])));
    for (const id of ids) expect(await hostOf(id)).toBe(hostNs(n));
    return ids;
  }

  /** Each server ACTIVE and idle on another host than `from`, with exactly one QEMU, there. */
  async function runningElsewhere(ids: string[], from: string): Promise<void> {
    for (const id of ids) {
      await eventually(`HA server ${id} running again off ${from}`, async () => {
        const s = await admin.getServer(id);
        if (s.status !== 'ACTIVE' || s['OS-EXT-SRV-ATTR:host'] === from || s['OS-EXT-STS:task_state']) return false;
        const qemus = qemusOf(id);
        return qemus.length === 1 && qemus[0].host === s['OS-EXT-SRV-ATTR:host'];
      }, 120_000);
    }
  }

  async function deleteServers(ids: string[]): Promise<void> {
    for (const id of ids) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of ids) await admin.waitForGone(id, 120_000);
  }

  /** A host back in service whatever a test left it as: healed, namespace and agent there, enabled, up. */
  async function restore(n: number): Promise<void> {
    healControlPlane(n);
    // host-up recreates a vanished host; start-agent is a no-op while its agent runs.
    cloud(namespaceExists(hostNs(n)) ? 'start-agent' : 'host-up', String(n));
    const state = await eventually(`host ${n} up or waiting for an admin`, async () => {
      const st = await hostState(hostNs(n));
      return (st === 'up' || st === 'disabled') && st;
    }, 90_000);
    if (state === 'disabled') await osc('compute', 'service', 'set', '--enable', hostNs(n), 'nova-compute');
    await eventually(`host ${n} up`, async () => (await hostState(hostNs(n))) === 'up', 60_000);
    broken.delete(n);
  }

  beforeAll(async () => {
    admin = await adminClient();
    for (const n of [1, 2, 3]) healControlPlane(n); // a cut a crashed run left
    await setFailover(true);
    const nano = (await admin.call('GET', `/compute/v2.1/flavors/${M1_NANO}`, 200)).flavor;
    const { flavor } = await admin.call('POST', '/compute/v2.1/flavors', 200, {
      flavor: { name: `ha-faults-${tag}`, vcpus: nano.vcpus, ram: nano.ram, disk: nano.disk, 'OS-FLV-EXT-DATA:ephemeral': 1 },
    });
    flavorId = flavor.id;
    await admin.call('POST', `/compute/v2.1/flavors/${flavorId}/os-extra_specs`, 200, { extra_specs: { 'nubo:ha': 'true', 'nubo:storage': 'shared' } });
  });

  afterAll(async () => {
    await setFailover(false).catch(() => undefined);
    for (const n of [1, 2, 3]) {
      await restore(n).catch((error: Error) => process.stderr.write(`host-faults e2e: host ${n} not restored: ${error.message}\n`));
    }
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id, 120_000).catch(() => undefined);
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it("restarts the HA servers of a host whose namespace vanished elsewhere, exactly once, and takes the host back only once an admin enables it", async () => {
    for (const n of [1, 2, 3]) await restore(n);
    const h = hostNs(3);
    const ids = await bootHa(3, 2);
    const sampler = new QemuSampler(ids).start(100);

    const t0 = Date.now();
    broken.add(3);
    await deleteHostNamespace(3);
    expect(namespaceExists(h)).toBe(false);
    await runningElsewhere(ids, h);
    process.stderr.write(`host-faults e2e: namespace deleted, HA servers back ${Date.now() - t0} ms later\n`);
    sampler.stop();
    expect(sampler.doubles).toEqual([]);
    await expectConverged(admin, Object.fromEntries(ids.map((id) => [id, 'ACTIVE' as const])));

    // Fenced by the driver, which found no namespace (and no agent: it was killed with it).
    expect(await hostState(h)).toBe('fenced');
    const history = await historySince(h, t0);
    expect(history.map((r) => r.to_state)).toEqual(['down', 'fenced']);
    expect(history[1].reason).toMatch(/^fenced by netns: namespace nubo-e2e-h3 does not exist: \d+ process\(es\) of its agent killed$/);

    // The host comes back (a new namespace, its underlay, its agent): disabled until an admin says.
    cloud('host-up', '3');
    await eventually('the returned host to wait for an admin', async () => (await hostState(h)) === 'disabled', 60_000);
    // Its underlay is plugged in again: it reaches host 1's.
    await eventually(`${h} to reach 10.77.0.11 on the underlay`, async () => {
      execFileSync('ip', ['netns', 'exec', h, 'ping', '-c', '1', '-W', '1', '10.77.0.11'], { stdio: 'ignore' });
      return true;
    }, 15_000);
    await sleep(2_000);
    expect(await hostState(h)).toBe('disabled');
    await osc('compute', 'service', 'set', '--enable', h, 'nova-compute');
    await eventually(`${h} up once enabled`, async () => (await hostState(h)) === 'up', 60_000);
    broken.delete(3);
    // Its former servers stay where they run now.
    await expectConverged(admin, Object.fromEntries(ids.map((id) => [id, 'ACTIVE' as const])));
    for (const id of ids) expect(await hostOf(id)).not.toBe(h);
    await deleteServers(ids);
  });

  it('failover off: a host cut off the control plane runs its VMs on, then kills them itself, and starts nothing until an admin enables it', async () => {
    for (const n of [1, 2, 3]) await restore(n);
    await setFailover(false);
    try {
      const h = hostNs(2);
      const ids = await bootHa(2, 2);
      const before = Object.fromEntries(ids.map((id) => [id, qemusOf(id)]));

      const t0 = Date.now();
      broken.add(2);
      const cut = cutControlPlane(2);
      await sleep(3_000);
      // Only the control plane is gone: the VMs run on, untouched.
      for (const id of ids) {
        expect(qemusOf(id)).toEqual(before[id]);
        expect(await qmpStatus(h, id)).toBe('running');
      }
      await eventually(`${h} to be marked down`, async () => (await hostState(h)) === 'down', 30_000);
      const downAfter = Date.now() - t0;
      await eventually('the cut-off agent to kill its VMs', async () => ids.every((id) => qemusOf(id).length === 0), 60_000);
      const killedAfter = Date.now() - t0;
      // The agent did it: it is alive (still cut off), and nobody fenced the host.
      expect(running(cut.pid)).toBe(true);
      expect(await hostState(h)).toBe('down');
      expect((await historySince(h, t0)).filter((r) => r.reason.startsWith('fenced by'))).toEqual([]);
      process.stderr.write(`host-faults e2e: cut at 0, ${h} down after ${downAfter} ms, its VMs killed by its agent after ${killedAfter} ms\n`);

      healControlPlane(2);
      await eventually(`${h} disabled after its return`, async () => (await hostState(h)) === 'disabled', 60_000);
      const history = await historySince(h, t0);
      expect(history).toEqual([
        { from_state: 'up', to_state: 'down', reason: expect.stringMatching(/^no heartbeat for more than \d+ ms$/) },
        { from_state: 'down', to_state: 'fenced', reason: expect.stringMatching(/^the agent fenced itself: no lease renewal for \d+ ms \(it allows \d+ ms\); killed 2 QEMU\(s\)$/) },
        { from_state: 'fenced', to_state: 'disabled', reason: expect.stringContaining('came back after the fence of epoch') },
      ]);
      await sleep(2_000);
      expect(await hostState(h)).toBe('disabled');
      for (const id of ids) expect(qemusOf(id)).toEqual([]);

      await osc('compute', 'service', 'set', '--enable', h, 'nova-compute');
      await eventually(`${h} up once enabled`, async () => (await hostState(h)) === 'up', 60_000);
      broken.delete(2);
      // Nothing started by itself: the servers end SHUTOFF on their host, no QEMU anywhere.
      for (const id of ids) await admin.waitForStatus(id, 'SHUTOFF', 60_000);
      await sleep(2_000);
      for (const id of ids) {
        expect(qemusOf(id)).toEqual([]);
        expect(await hostOf(id)).toBe(h);
      }
      // None lost: started by hand, each runs once, there.
      for (const id of ids) await admin.call('POST', `/compute/v2.1/servers/${id}/action`, 202, { 'os-start': null });
      for (const id of ids) await admin.waitForStatus(id, 'ACTIVE');
      await expectConverged(admin, Object.fromEntries(ids.map((id) => [id, 'ACTIVE' as const])));
      for (const id of ids) expect(await hostOf(id)).toBe(h);
      await deleteServers(ids);
    } finally {
      await setFailover(true);
    }
  });

  it('failover on: the HA servers of a host cut off the control plane run again elsewhere, never twice at once, the old QEMU holding its disk until it died', async () => {
    for (const n of [1, 2, 3]) await restore(n);
    const h = hostNs(1);
    const ids = await bootHa(1, 2);
    for (const id of ids) expect(diskLockError(id)).toMatch(LOCKED);
    const old = Object.fromEntries(ids.map((id) => [id, qemusOf(id)[0].pid]));
    const agent = agentPid(1);
    const sampler = new QemuSampler(ids).start(100);
    try {
      const t0 = Date.now();
      broken.add(1);
      cutControlPlane(1);
      await sleep(1_000);
      // Cut off, the old QEMUs run on and hold their disks.
      for (const id of ids) {
        expect(qemusOf(id)).toEqual([{ pid: old[id], host: h }]);
        expect(diskLockError(id)).toMatch(LOCKED);
      }
      await runningElsewhere(ids, h);
      process.stderr.write(`host-faults e2e: control plane cut, HA servers back elsewhere ${Date.now() - t0} ms later\n`);
      await sleep(1_000);
    } finally {
      sampler.stop();
    }
    expect(sampler.samples).toBeGreaterThan(50);
    expect(sampler.doubles).toEqual([]);
    for (const id of ids) {
      const now = await hostOf(id);
      const seen = sampler.of(id);
      expect(seen.map((q) => [q.pid === old[id] ? 'old' : 'new', q.host])).toEqual([
        ['old', h],
        ['new', now],
      ]);
      const [first, second] = seen;
      expect(running(first.pid)).toBe(false);
      // The new QEMU was started after the old one was last seen alive; it holds the disk now.
      expect(second.startedAt).toBeGreaterThan(first.lastSeen);
      expect(diskLockError(id)).toMatch(LOCKED);
      process.stderr.write(`host-faults e2e: ${id}: old QEMU last seen ${second.startedAt - first.lastSeen} ms before the new one started\n`);
    }
    // Powered off by the fence driver: its QEMUs and its agent (cut off, but alive until then).
    expect(await hostState(h)).toBe('fenced');
    const history = await withDb(async (db) => (await db.query(`SELECT to_state, reason FROM compute.host_state_history WHERE host_id = $1 ORDER BY id DESC LIMIT 2`, [h])).rows);
    expect(history.map((r: { to_state: string }) => r.to_state)).toEqual(['fenced', 'down']);
    expect(history[0].reason).toMatch(/^fenced by netns: namespace nubo-e2e-h1 powered off/);
    expect(running(agent)).toBe(false);
    await expectConverged(admin, Object.fromEntries(ids.map((id) => [id, 'ACTIVE' as const])));

    // Healed and enabled, the host takes nothing back by itself.
    await restore(1);
    await expectConverged(admin, Object.fromEntries(ids.map((id) => [id, 'ACTIVE' as const])));
    for (const id of ids) expect(await hostOf(id)).not.toBe(h);
    await deleteServers(ids);
  });
});
