/** Quotas hold under parallel requests: 20 creates against a quota of 5 make exactly 5 servers. */
import { OpenStackClient } from '@nubo/client';
import { adminClient } from '../support/cloud';
import { Tenant, createTenant, deleteTenant } from '../support/tenants';

describe('quota race', () => {
  let admin: OpenStackClient;
  let tenant: Tenant;
  const created: string[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    tenant = await createTenant(admin, 'quota');
    await admin.call('PUT', `/compute/v2.1/os-quota-sets/${tenant.projectId}`, 200, { quota_set: { instances: 5 } });
  });

  afterAll(async () => {
    for (const id of created) await tenant.client.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of created) await tenant.client.waitForGone(id).catch(() => undefined);
    await deleteTenant(admin, tenant);
  });

  it('lets exactly 5 of 20 parallel creates through; the other 15 get 403 with Nova\'s message', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        tenant.client.request('POST', '/compute/v2.1/servers', { body: { server: { name: `q-${i}`, flavorRef: '42' } } }),
      ),
    );
    const ok = replies.filter((r) => r.status === 202);
    const refused = replies.filter((r) => r.status === 403);
    created.push(...ok.map((r) => r.body.server.id));
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(r.body.forbidden.message).toMatch(/^Quota exceeded for instances: Requested 1, but already used 5 of 5 instances/);
    }
    const listed = (await tenant.client.call('GET', '/compute/v2.1/servers', 200)).servers;
    expect(listed).toHaveLength(5);
    const limits = (await tenant.client.call('GET', '/compute/v2.1/limits', 200)).limits.absolute;
    expect(limits).toMatchObject({ maxTotalInstances: 5, totalInstancesUsed: 5 });
  });
});
