/**
 * Reschedule on a real failure: every host but one gets an instance directory that even root
 * cannot write into (`chattr +i`), so their agents answer a spawn with an error (EPERM on mkdir);
 * the remaining host is made the least attractive (least free RAM, plus a filler server), so the
 * scheduler tries the broken ones first. The server must end ACTIVE on the healthy host, with a
 * QEMU there and nothing left on the others: no allocation, no instance directory; each failed
 * attempt is in the placement record (GET /nubo/v1/servers/{id}/placement, admins only) and in the
 * broken hosts' recent build failures.
 */
import { OpenStackClient } from '@nubo/client';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adminClient, demoClient, instanceDir, netnsOf, processAlive, qemuPid, withDb } from '../support/cloud';
import { E2E } from '../support/e2e-env';

const instancesDir = (hostId: string) => join(E2E.NUBO_STATE_DIR, 'hosts', `h${/-h(\d+)$/.exec(hostId)![1]}`, 'instances');
const chattr = (flag: '+i' | '-i', dir: string) => execFileSync('chattr', [flag, dir]);

describe('reschedule after a failed spawn', () => {
  let admin: OpenStackClient;
  const created: string[] = [];
  const frozen: string[] = [];
  let healthy: string;
  let broken: string[];

  beforeAll(async () => {
    admin = await adminClient();
    const hosts = (await admin.hosts()).filter((h) => h.state === 'up');
    expect(hosts).toHaveLength(3);
    // The healthy host is the one with the least free RAM; a filler server there lowers it further.
    const sorted = [...hosts].sort((a, b) => a.free.ram_mb - b.free.ram_mb || b.id.localeCompare(a.id));
    healthy = sorted[0].id;
    broken = sorted.slice(1).map((h) => h.id);
    const filler = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name: 'resched-filler', flavorRef: '42', availability_zone: `nova:${healthy}` },
    });
    created.push(filler.server.id);
    expect((await admin.waitForStatus(filler.server.id, 'ACTIVE'))['OS-EXT-SRV-ATTR:host']).toBe(healthy);
  });

  afterAll(async () => {
    for (const dir of frozen) chattr('-i', dir);
    for (const id of created) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of created) await admin.waitForGone(id).catch(() => undefined);
    // Later specs must not find these hosts penalized by the build-failure weigher.
    await withDb((db) => db.query(`UPDATE compute.hosts SET recent_failures = 0 WHERE id = ANY($1)`, [broken]));
  });

  it('ends ACTIVE on the healthy host, and the failed hosts hold nothing of it', async () => {
    const before = Object.fromEntries((await admin.hosts()).map((h) => [h.id, h]));
    // A host makes its instances directory at its first spawn: make it as the healthy host's was made.
    const mode = statSync(instancesDir(healthy)).mode & 0o7777;
    for (const host of broken) {
      if (!existsSync(instancesDir(host))) mkdirSync(instancesDir(host), { recursive: true, mode });
      chattr('+i', instancesDir(host));
      frozen.push(instancesDir(host));
    }

    const id = await admin.createServer({ name: 'resched-1', flavorRef: '42' });
    created.push(id);
    const server = await admin.waitForStatus(id, 'ACTIVE', 180_000);
    expect(server['OS-EXT-SRV-ATTR:host']).toBe(healthy);
    expect(server.fault).toBeUndefined();

    // Reality: one QEMU, in the healthy host's namespace; nothing on the broken hosts.
    const pid = qemuPid(healthy, id)!;
    expect(processAlive(pid)).toBe(true);
    expect(netnsOf(pid)).toBe(healthy);
    for (const host of broken) expect(existsSync(instanceDir(host, id))).toBe(false);

    // The record: at least one failed attempt on a broken host, then the healthy one.
    const placement = await admin.call('GET', `/nubo/v1/servers/${id}/placement`, 200);
    const decisions: any[] = placement.placement.decisions;
    const failed = decisions.filter((d) => d.spawn_failure);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    for (const d of failed) {
      expect(broken).toContain(d.host);
      expect(d.spawn_failure.reason).toMatch(/EPERM|operation not permitted/i);
    }
    const last = decisions[decisions.length - 1];
    expect(last).toMatchObject({ host: healthy, spawn_failure: null, no_valid_host: null });
    // The last decision did not consider the hosts that had failed.
    const retry = last.filters.find((f: any) => f.name === 'RetryFilter');
    if (retry) expect(Object.keys(retry.removed).sort()).toEqual(failed.map((d) => d.host).sort());

    // Placement: the server's only allocation is on the healthy host; the failed claims are gone.
    const allocations = await withDb(async (db) => (await db.query(`SELECT host_id FROM compute.allocations WHERE consumer_id = $1`, [id])).rows);
    expect(allocations).toEqual([{ host_id: healthy }]);
    const after = Object.fromEntries((await admin.hosts()).map((h) => [h.id, h]));
    for (const host of broken) expect(after[host].used).toEqual(before[host].used);
    expect(after[healthy].used.ram_mb).toBe(before[healthy].used.ram_mb + 128);
    const counts = await withDb(async (db) => (await db.query(`SELECT id, recent_failures FROM compute.hosts WHERE id = ANY($1)`, [failed.map((d) => d.host)])).rows);
    for (const row of counts) expect(row.recent_failures).toBeGreaterThanOrEqual(1);

    // Nova's instance action log has each spawn, failed ones as Error.
    const { instanceActions } = await admin.call('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, 200);
    const create = instanceActions.find((a: any) => a.action === 'create');
    const action = await admin.call('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${create.request_id}`, 200);
    const builds = action.instanceAction.events.filter((e: any) => e.event === 'compute__do_build_and_run_instance');
    expect(builds.map((e: any) => e.result)).toEqual([...failed.map(() => 'Error'), 'Success']);
  });

  it('shows the placement record to admins only', async () => {
    const member = await demoClient();
    const forbidden = await member.request('GET', `/nubo/v1/servers/${created[0]}/placement`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({ forbidden: { code: 403, message: "Policy doesn't allow nubo:servers:placement:show to be performed." } });
    const unknown = await admin.request('GET', '/nubo/v1/servers/00000000-0000-4000-8000-000000000000/placement');
    expect(unknown.status).toBe(404);
    expect(unknown.body.itemNotFound.code).toBe(404);
  });
});
