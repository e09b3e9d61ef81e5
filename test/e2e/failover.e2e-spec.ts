/**
 * Automatic failover on the 3-host cloud (netns fence driver, default liveness settings), with
 * the cloud's failover switched on for this spec only (PUT /nubo/v1/failover):
 *  - storm: two of three agents frozen (SIGSTOP) past their leases: nothing is fenced, the alert
 *    says why; continued, both hosts come back up and the alert clears;
 *  - a host loses power (its agent and QEMUs killed -9): it is fenced (the driver confirms, the
 *    host's history says so) and its HA servers (`nubo:ha` by flavor or metadata) run again on
 *    the other hosts, each exactly once across every namespace (process scan), while a server
 *    that is not HA stays where it was. Time from the power-off to the last HA server running is
 *    printed (bench:failover measures it properly).
 * The host is enabled again at the end (`openstack compute service set --enable`), as an admin must.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cloud, eventually, withDb } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { hostNs, powerOffHost, qemusOf, signalAgent } from '../support/host-faults';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(600_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const M1_NANO = '42';

(isRoot ? describe : describe.skip)('automatic failover', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-failover-'));
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  let flavorId = '';
  const servers: string[] = [];
  const frozen: number[] = [];
  let poweredOff: number | undefined;

  const osc = (...args: string[]) =>
    run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...openrcEnv(openrcPath) }, timeout: 120_000 });
  const hostState = async (id: string) => withDb(async (db) => (await db.query(`SELECT state FROM compute.hosts WHERE id = $1`, [id])).rows[0]?.state as string);
  const failover = async () => (await admin.call('GET', '/nubo/v1/failover', 200)).failover;

  async function boot(name: string, flavorRef: string, host: string, metadata?: Record<string, string>): Promise<string> {
    const reply = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name: `${name}-${tag}`, flavorRef, availability_zone: `nova:${host}`, ...(metadata ? { metadata } : {}) },
    });
    servers.push(reply.server.id);
    return reply.server.id;
  }

  /** A host back in service whatever the test left it as: continued, enabled, up. */
  async function restore(n: number): Promise<void> {
    // Every frozen agent at once: one continued alone leaves the other a lone silent host, fenced.
    for (const f of frozen.splice(0)) {
      try {
        signalAgent(f, 'SIGCONT');
      } catch {
        // Fenced meanwhile: its agent is gone.
      }
    }
    const state = await eventually(`host ${n} up or waiting for an admin`, async () => {
      const st = await hostState(hostNs(n));
      return (st === 'up' || st === 'disabled' || st === 'fenced') && st;
    }, 60_000);
    if (state !== 'up') {
      if (state === 'fenced') cloud('start-agent', String(n));
      await eventually(`host ${n} disabled after its return`, async () => (await hostState(hostNs(n))) === 'disabled', 60_000);
      await osc('compute', 'service', 'set', '--enable', hostNs(n), 'nova-compute');
    }
    await eventually(`host ${n} up`, async () => (await hostState(hostNs(n))) === 'up', 60_000);
  }

  beforeAll(async () => {
    admin = await adminClient();
    await admin.call('PUT', '/nubo/v1/failover', 200, { failover: { enabled: true } });
    const nano = (await admin.call('GET', `/compute/v2.1/flavors/${M1_NANO}`, 200)).flavor;
    const { flavor } = await admin.call('POST', '/compute/v2.1/flavors', 200, { flavor: { name: `ha-${tag}`, vcpus: nano.vcpus, ram: nano.ram, disk: nano.disk } });
    flavorId = flavor.id;
    await admin.call('POST', `/compute/v2.1/flavors/${flavorId}/os-extra_specs`, 200, { extra_specs: { 'nubo:ha': 'true', 'nubo:storage': 'shared' } });
  });

  afterAll(async () => {
    await admin.call('PUT', '/nubo/v1/failover', 200, { failover: { enabled: false } });
    for (const n of [2, 3]) await restore(n).catch((error: Error) => process.stderr.write(`failover e2e: host ${n} not restored: ${error.message}\n`));
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id, 120_000).catch(() => undefined);
    if (poweredOff !== undefined) {
      cloud('start-agent', String(poweredOff));
      await osc('compute', 'service', 'set', '--enable', hostNs(poweredOff), 'nova-compute').catch(() => undefined);
      await eventually('the fenced host to be up again', async () => (await hostState(hostNs(poweredOff!))) === 'up', 60_000).catch(() => undefined);
    }
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fences nothing when two of three hosts go silent at once, and says why', async () => {
    const since = new Date();
    for (const n of [2, 3]) {
      signalAgent(n, 'SIGSTOP');
      frozen.push(n);
    }
    const alert = await eventually('the storm alert', async () => ((await failover()).alert as string | null) ?? undefined, 60_000);
    expect(alert).toMatch(/^2 of 3 hosts are silent at once .* nothing is fenced automatically$/);
    // Past the leases and the self-fence margin: still nobody fenced.
    await eventually('both leases long expired', async () =>
      withDb(async (db) => {
        const { rows } = await db.query(`SELECT count(*)::int AS n FROM compute.host_leases WHERE host_id = ANY($1) AND expires_at < now() - interval '3 seconds'`, [[hostNs(2), hostNs(3)]]);
        return rows[0].n === 2;
      }), 60_000);
    expect(await hostState(hostNs(2))).toBe('down');
    expect(await hostState(hostNs(3))).toBe('down');

    // Nobody powered them off: the controller held back (other specs' fences are older).
    const byController = async () =>
      withDb(async (db) => (await db.query(`SELECT count(*)::int AS n FROM compute.host_state_history WHERE reason LIKE 'fenced by %' AND at >= $1`, [since])).rows[0].n);
    expect(await byController()).toBe(0);

    // Continued, each agent finds its lease gone and fences itself (its VMs killed, issue 9's
    // point 2); the host then stays disabled until an admin enables it (point 6).
    for (const n of frozen.splice(0)) signalAgent(n, 'SIGCONT');
    for (const n of [2, 3]) {
      await eventually(`host ${n} disabled after its self-fence`, async () => (await hostState(hostNs(n))) === 'disabled', 60_000);
      await osc('compute', 'service', 'set', '--enable', hostNs(n), 'nova-compute');
      await eventually(`host ${n} up once enabled`, async () => (await hostState(hostNs(n))) === 'up', 60_000);
    }
    await eventually('the alert to clear', async () => (await failover()).alert === null, 30_000);
    expect(await byController()).toBe(0);
  });

  it('restarts the HA servers of a dead host elsewhere, each exactly once, after fencing it', async () => {
    const h1 = hostNs(1);
    for (const n of [1, 2, 3]) await restore(n);
    const haFlavor = await boot('ha-flavor', flavorId, h1);
    const haMeta = await boot('ha-meta', M1_NANO, h1, { 'nubo:ha': 'true', 'nubo:ha_priority': '5' });
    const plain = await boot('plain', M1_NANO, h1);
    for (const id of [haFlavor, haMeta, plain]) await admin.waitForStatus(id, 'ACTIVE');

    const t0 = Date.now();
    powerOffHost(1);
    poweredOff = 1;
    for (const id of [haMeta, haFlavor]) {
      await eventually(`HA server ${id} running elsewhere`, async () => {
        const s = await admin.getServer(id);
        if (s.status !== 'ACTIVE' || s['OS-EXT-SRV-ATTR:host'] === h1 || s['OS-EXT-STS:task_state']) return false;
        const qemus = qemusOf(id);
        return qemus.length === 1 && qemus[0].host === s['OS-EXT-SRV-ATTR:host'];
      }, 120_000);
    }
    process.stderr.write(`failover e2e: HA servers back ${Date.now() - t0} ms after the power-off\n`);
    // Exactly once, across every namespace, a while later too.
    for (const id of [haMeta, haFlavor]) expect(qemusOf(id)).toHaveLength(1);
    expect((await admin.getServer(plain))['OS-EXT-SRV-ATTR:host']).toBe(h1);
    expect(qemusOf(plain)).toHaveLength(0);

    expect(await hostState(h1)).toBe('fenced');
    const history = await withDb(async (db) => (await db.query(`SELECT to_state, reason FROM compute.host_state_history WHERE host_id = $1 ORDER BY id`, [h1])).rows);
    expect(history.map((r: { to_state: string }) => r.to_state).slice(-2)).toEqual(['down', 'fenced']);
    expect(history.at(-1).reason).toMatch(/^fenced by netns: namespace .* powered off/);
    const { migrations } = (await admin.request('GET', '/compute/v2.1/os-migrations?migration_type=evacuation', { headers: { 'OpenStack-API-Version': 'compute 2.23' } })).body;
    const mine = migrations.filter((m: { instance_uuid: string }) => [haFlavor, haMeta].includes(m.instance_uuid));
    expect(mine.map((m: { status: string; source_compute: string }) => [m.status, m.source_compute])).toEqual([
      ['done', h1],
      ['done', h1],
    ]);
  });
});
