/**
 * GET /nubo/v1/failover-plan on the e2e cloud: HA servers (one by its flavor's `nubo:ha`, one by
 * its metadata, with a higher `nubo:ha_priority`) and a plain one, firmware-only. The plan lists
 * the HA servers under their host, highest priority first, each with a destination on another
 * host that is up, the plain one nowhere; members are refused (403).
 */
import { OpenStackClient } from '@nubo/client';
import { adminClient, demoClient } from '../support/cloud';

jest.setTimeout(300_000);

const isRoot = process.getuid?.() === 0;

(isRoot ? describe : describe.skip)('failover plan', () => {
  const tag = Date.now().toString(36);
  let admin: OpenStackClient;
  let flavorId = '';
  const ids: string[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    const nano = (await admin.call('GET', '/compute/v2.1/flavors/42', 200)).flavor;
    const { flavor } = await admin.call('POST', '/compute/v2.1/flavors', 200, {
      flavor: { name: `ha-${tag}`, vcpus: nano.vcpus, ram: nano.ram, disk: nano.disk },
    });
    flavorId = flavor.id;
    await admin.call('POST', `/compute/v2.1/flavors/${flavorId}/os-extra_specs`, 200, { extra_specs: { 'nubo:ha': 'true' } });
    ids.push(await admin.createServer({ name: `ha-flavor-${tag}`, flavorRef: flavorId }));
    const byMeta = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name: `ha-meta-${tag}`, flavorRef: '42', metadata: { 'nubo:ha': 'true', 'nubo:ha_priority': '10' } },
    });
    ids.push(byMeta.server.id);
    ids.push(await admin.createServer({ name: `plain-${tag}`, flavorRef: '42' }));
    for (const id of ids) await admin.waitForStatus(id, 'ACTIVE', 120_000);
  });

  afterAll(async () => {
    for (const id of ids) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of ids) await admin.waitForGone(id, 120_000).catch(() => undefined);
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
  });

  it('tells where each host\'s HA servers would restart, in priority order, and only those', async () => {
    const { hosts } = await admin.call('GET', '/nubo/v1/failover-plan', 200);
    const servers = hosts.flatMap((h: { host: string; servers: Array<{ id: string }> }) => h.servers.map((s) => ({ ...s, from: h.host })));
    const mine = servers.filter((s: { id: string }) => ids.includes(s.id));
    expect(mine.map((s: { id: string }) => s.id).sort()).toEqual([ids[0], ids[1]].sort());
    const up = new Set(hosts.filter((h: { state: string }) => h.state === 'up').map((h: { host: string }) => h.host));
    for (const s of mine) {
      const actual = (await admin.getServer(s.id))['OS-EXT-SRV-ATTR:host'];
      expect(s.from).toBe(actual);
      expect({ id: s.id, destination: s.destination, reason: s.reason }).toEqual({ id: s.id, destination: expect.any(String), reason: undefined });
      expect(s.destination).not.toBe(actual);
      expect([...up]).toContain(s.destination);
    }
    expect(mine.find((s: { id: string }) => s.id === ids[1]).priority).toBe(10);
    for (const h of hosts) {
      const priorities = h.servers.map((s: { priority: number }) => s.priority);
      expect(priorities).toEqual([...priorities].sort((a, b) => b - a));
      expect(h.capacity_ok).toBe(h.servers.every((s: { destination: string | null }) => s.destination !== null));
    }
  });

  it('is for admins only', async () => {
    expect((await (await demoClient()).request('GET', '/nubo/v1/failover-plan')).status).toBe(403);
  });
});
