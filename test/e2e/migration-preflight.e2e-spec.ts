/**
 * GET /nubo/v1/servers/{id}/migration-preflight on a real cloud: the source agent measures an idle
 * firmware-only 1 GiB guest (KVM) with QMP calc-dirty-rate, and the API predicts it converges;
 * bad input is refused naming the field, members are refused, nothing moves.
 */
import { OpenStackClient } from '@nubo/client';
import { adminClient, demoClient } from '../support/cloud';

jest.setTimeout(300_000);

describe('migration pre-flight', () => {
  let admin: OpenStackClient;
  let flavorId = '';
  let id = '';
  let source = '';
  const path = () => `/nubo/v1/servers/${id}/migration-preflight`;

  beforeAll(async () => {
    admin = await adminClient();
    const { flavor } = await admin.call('POST', '/compute/v2.1/flavors', 200, { flavor: { name: `preflight-${Date.now().toString(36)}`, ram: 1024, vcpus: 1, disk: 0 } });
    flavorId = flavor.id;
    id = await admin.createServer({ name: 'preflight-idle', flavorRef: flavorId });
    source = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
  });

  afterAll(async () => {
    if (id) {
      await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      await admin.waitForGone(id, 120_000).catch(() => undefined);
    }
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
  });

  it('predicts that an idle guest converges, from a dirty rate its host measured', async () => {
    const other = (await admin.hosts()).find((h) => h.id !== source && h.state === 'up')!;
    const started = Date.now();
    const p = await admin.call('GET', `${path()}?host=${other.id}&seconds=1`, 200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // the agent measured for a second
    expect(p).toMatchObject({ server_id: id, source_host: source, host: other.id, ram_mib: 1024, measured_seconds: 1, downtime_limit_ms: 300, predicted_converges: true });
    expect(p.dirty_rate_mib_s).toBeGreaterThanOrEqual(0);
    expect(p.dirty_rate_mib_s).toBeLessThan(p.bandwidth_mib_s);
    expect(p.bandwidth_mib_s).toBeGreaterThan(0);
    // At least one full copy of the RAM over the link.
    expect(p.predicted_total_ms).toBeGreaterThanOrEqual(Math.floor((1024 / p.bandwidth_mib_s) * 1000));
    expect(p.reason).toMatch(/fits in the downtime limit/);
    // Nothing moved.
    const server = await admin.getServer(id);
    expect(server['OS-EXT-SRV-ATTR:host']).toBe(source);
    expect(server['OS-EXT-STS:task_state']).toBeNull();
  });

  it('refuses bad input naming the field, unknown servers and members', async () => {
    for (const [query, field] of [
      ['?seconds=0', 'seconds'],
      ['?seconds=abc', 'seconds'],
      ['?host=no-such-host', 'host'],
      [`?host=${source}`, 'host'],
    ]) {
      const reply = await admin.request('GET', `${path()}${query}`);
      expect({ query, status: reply.status }).toEqual({ query, status: 400 });
      expect(JSON.stringify(reply.body)).toContain(field);
    }
    expect((await admin.request('GET', '/nubo/v1/servers/00000000-0000-4000-8000-000000000000/migration-preflight')).status).toBe(404);
    const demo = await demoClient();
    expect((await demo.request('GET', path())).status).toBe(403);
  });
});
