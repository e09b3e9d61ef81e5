/**
 * Host drain on the e2e cloud: two running servers on one host, POST /nubo/v1/hosts/{id}/drain,
 * both end ACTIVE on other hosts (QEMU there, not on the drained one), the report shows each
 * server's completed migration, the host is in maintenance (Nubo's hosts, Nova's os-services
 * and host_status) and new servers go elsewhere; undrain puts it back and it takes servers again.
 */
import { OpenStackClient } from '@nubo/client';
import { adminClient, demoClient, eventually, processAlive, qemuPid } from '../support/cloud';

jest.setTimeout(900_000);

const M1_NANO = '42';
const isRoot = process.getuid?.() === 0;
const at = (version: string) => ({ headers: { 'OpenStack-API-Version': `compute ${version}` } });

(isRoot ? describe : describe.skip)('host drain', () => {
  const tag = Date.now().toString(36);
  const made: string[] = [];
  let admin: OpenStackClient;
  let drained = '';

  async function create(name: string, host?: string): Promise<string> {
    const server: Record<string, unknown> = { name: `${name}-${tag}`, flavorRef: M1_NANO, ...(host ? { availability_zone: `nova:${host}` } : {}) };
    const { server: created } = await admin.call('POST', '/compute/v2.1/servers', 202, { server });
    made.push(created.id);
    return created.id;
  }
  const hostOf = async (id: string) => (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'] as string;
  const hostState = async (id: string) => (await admin.call('GET', '/nubo/v1/hosts', 200)).hosts.find((h: { id: string }) => h.id === id)?.state;

  beforeAll(async () => {
    admin = await adminClient();
    const { hypervisors } = await admin.call('GET', '/compute/v2.1/os-hypervisors', 200);
    drained = hypervisors[0].hypervisor_hostname;
  });

  afterAll(async () => {
    if (drained) await admin.request('POST', `/nubo/v1/hosts/${drained}/undrain`);
    for (const id of made) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of made) await admin.waitForGone(id, 120_000).catch(() => undefined);
  });

  it('refuses members and unknown hosts', async () => {
    const demo = await demoClient();
    expect((await demo.request('POST', `/nubo/v1/hosts/${drained}/drain`)).status).toBe(403);
    expect((await admin.request('POST', '/nubo/v1/hosts/no-such-host/drain')).status).toBe(404);
    expect((await admin.request('POST', `/nubo/v1/hosts/${drained}/undrain`)).status).toBe(409);
    expect(await hostState(drained)).toBe('up');
  });

  it('moves every server off the host, which then takes no new server until undrained', async () => {
    const servers = [await create('drain-a', drained), await create('drain-b', drained)];
    for (const id of servers) expect(await hostOf(id)).toBe(drained);
    const pids = servers.map((id) => qemuPid(drained, id)!);

    const started = await admin.request('POST', `/nubo/v1/hosts/${drained}/drain`);
    expect(started.status).toBe(202);
    expect(started.body.drain).toMatchObject({ host: drained, host_state: 'maintenance' });
    expect(started.body.drain.servers.map((s: { server_id: string }) => s.server_id).sort()).toEqual([...servers].sort());

    const report = await eventually('the drain to finish', async () => {
      const r = (await admin.call('GET', `/nubo/v1/hosts/${drained}/drain`, 200)).drain;
      return r.done && r;
    }, 600_000);
    expect(report).toMatchObject({ remaining_servers: 0, host_state: 'maintenance' });
    for (const s of report.servers) expect(s).toMatchObject({ status: 'completed', error: null, migration_id: expect.any(Number) });

    for (const [i, id] of servers.entries()) {
      const server = await admin.getServer(id);
      expect(server).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null });
      const now = server['OS-EXT-SRV-ATTR:host'] as string;
      expect(now).not.toBe(drained);
      expect(processAlive(qemuPid(now, id)!)).toBe(true);
      await eventually('the drained host\'s QEMU to end', async () => !processAlive(pids[i]));
    }
    const { migrations } = await admin.call('GET', `/compute/v2.1/os-migrations?host=${drained}`, 200, undefined);
    expect(migrations.filter((m: { instance_uuid: string; status: string }) => servers.includes(m.instance_uuid) && m.status === 'completed')).toHaveLength(2);

    // Maintenance, as Nubo and Nova show it.
    expect(await hostState(drained)).toBe('maintenance');
    const { services } = await admin.call('GET', `/compute/v2.1/os-services?host=${drained}`, 200);
    expect(services[0]).toMatchObject({ status: 'disabled', state: 'up', disabled_reason: 'drain' });

    // No new server lands there: free choice goes elsewhere, and naming the host finds no valid host.
    const fresh = [await create('drain-new-1'), await create('drain-new-2')];
    for (const id of fresh) expect(await hostOf(id)).not.toBe(drained);
    const forced = await create('drain-forced', drained);
    await eventually('the forced server to fail', async () => (await admin.getServer(forced)).status === 'ERROR', 120_000);

    const back = await admin.call('POST', `/nubo/v1/hosts/${drained}/undrain`, 200);
    expect(back).toEqual({ host: { id: drained, state: 'up' } });
    const { services: after } = await admin.call('GET', `/compute/v2.1/os-services?host=${drained}`, 200);
    expect(after[0]).toMatchObject({ status: 'enabled', state: 'up', disabled_reason: null });
    expect(await hostOf(await create('drain-after', drained))).toBe(drained);
    // host_status (2.16) of a server there.
    const there = made[made.length - 1];
    expect((await admin.request('GET', `/compute/v2.1/servers/${there}`, at('2.16'))).body.server.host_status).toBe('UP');
  });
});
