/**
 * Evacuation (Nova's evacuate) on the 3-host cloud: a host loses power (its agent and its QEMUs
 * killed -9), the API shows its compute service down, and the stock CLI's `openstack server
 * evacuate` rebuilds its servers elsewhere: ACTIVE on another host with QEMU running in that
 * host's namespace, a stopped server SHUTOFF there with no QEMU, the migration records of type
 * `evacuation` done. While the host is up, evacuate is refused (400, Nova's words).
 * Firmware-only servers (m1.nano, no image): the quickest to boot.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cloud, eventually, hostNumber, netnsOf, processAlive, qemuPid, qmpStatus } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { powerOffHost, qemusOf } from '../support/host-faults';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(600_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const M1_NANO = '42';
const at = (version: string) => ({ 'OpenStack-API-Version': `compute ${version}` });

(isRoot ? describe : describe.skip)('evacuate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-evacuate-'));
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  const servers: string[] = [];
  let failed: number | undefined;

  const osc = (...args: string[]) =>
    run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...openrcEnv(openrcPath) }, timeout: 120_000 });
  const hostOf = async (id: string) => (await admin.getServer(id))['OS-EXT-SRV-ATTR:host'] as string;
  const evacuate = (id: string, body: Record<string, unknown>, version: string) =>
    admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { evacuate: body }, headers: at(version) });

  async function boot(name: string, zone?: string): Promise<string> {
    const reply = await admin.request('POST', '/compute/v2.1/servers', {
      body: { server: { name: `${name}-${tag}`, flavorRef: M1_NANO, ...(zone ? { availability_zone: zone } : {}) } },
    });
    expect(reply.status).toBe(202);
    const id = reply.body.server.id as string;
    servers.push(id);
    await admin.waitForStatus(id, 'ACTIVE');
    return id;
  }

  beforeAll(async () => {
    admin = await adminClient();
  });

  afterAll(async () => {
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id).catch(() => undefined);
    if (failed !== undefined) cloud('start-agent', String(failed));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses while the host is up, rebuilds the servers elsewhere once it is down', async () => {
    const active = await boot('evac-active');
    const source = await hostOf(active);
    const stopped = await boot('evac-stopped', `nova:${source}`);
    expect(await hostOf(stopped)).toBe(source);
    expect((await admin.request('POST', `/compute/v2.1/servers/${stopped}/action`, { body: { 'os-stop': null } })).status).toBe(202);
    await admin.waitForStatus(stopped, 'SHUTOFF');

    // The host is up: Nova's ComputeServiceInUse.
    const inUse = await evacuate(active, {}, '2.14');
    expect(inUse.status).toBe(400);
    expect(inUse.body.badRequest.message).toBe(`Compute service of ${source} is still in use.`);
    expect((await evacuate(active, { host: 'no-such-host' }, '2.29')).status).toBe(404);

    // The host loses power; the API shows its compute service down.
    failed = hostNumber(source);
    const oldPid = qemuPid(source, active);
    powerOffHost(failed);
    if (oldPid) await eventually('the old QEMU to die', async () => !processAlive(oldPid), 10_000);
    await eventually(
      `${source} to show down in os-services`,
      async () => {
        const services = (await admin.request('GET', '/compute/v2.1/os-services')).body.services as Array<{ host: string; state: string }>;
        return services.find((s) => s.host === source)?.state === 'down';
      },
      90_000,
    );

    // The stock CLI (OSC 6.0 sends the action, then may stumble on novaclient's TupleWithMeta reply).
    for (const id of [active, stopped]) {
      const result = await osc('server', 'evacuate', id).then(
        (r) => ({ ok: true, stderr: r.stderr }),
        (error: { stderr?: string }) => ({ ok: false, stderr: error.stderr ?? '' }),
      );
      if (!result.ok) expect(result.stderr).toMatch(/TupleWithMeta|has no attribute/);
    }

    const moved = await eventually(
      'the active server ACTIVE on another host',
      async () => {
        const s = await admin.getServer(active);
        return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] !== source ? s : undefined;
      },
      180_000,
    );
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    const pid = qemuPid(dest, active)!;
    expect(processAlive(pid)).toBe(true);
    expect(netnsOf(pid)).toBe(`nubo-e2e-h${hostNumber(dest)}`);
    expect(await qmpStatus(dest, active)).toBe('running');
    expect(qemusOf(active)).toEqual([{ pid, host: `nubo-e2e-h${hostNumber(dest)}` }]);

    const still = await eventually(
      'the stopped server SHUTOFF on another host',
      async () => {
        const s = await admin.getServer(stopped);
        return s.status === 'SHUTOFF' && s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] !== source ? s : undefined;
      },
      180_000,
    );
    expect(still['OS-EXT-SRV-ATTR:host']).not.toBe(source);
    await eventually('no QEMU left for the stopped server', async () => qemusOf(stopped).length === 0, 30_000);

    const list = await admin.request('GET', `/compute/v2.1/os-migrations?migration_type=evacuation&source_compute=${source}`, { headers: at('2.23') });
    expect(list.status).toBe(200);
    const records = (list.body.migrations as Array<Record<string, unknown>>).filter((m) => servers.includes(m.instance_uuid as string));
    expect(records.map((m) => [m.instance_uuid, m.migration_type, m.status, m.source_compute]).sort()).toEqual(
      [
        [active, 'evacuation', 'done', source],
        [stopped, 'evacuation', 'done', source],
      ].sort(),
    );
    expect(records.find((m) => m.instance_uuid === active)?.dest_compute).toBe(dest);
  });
});
