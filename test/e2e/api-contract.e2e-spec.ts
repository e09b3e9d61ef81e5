/**
 * Bad input for every endpoint family answers 400 naming the field (in the service's error shape)
 * and persists nothing; Idempotency-Key replays; the OpenAPI document describes the API.
 */
import { OpenStackClient } from '@nubo/client';
import { adminClient } from '../support/cloud';

interface BadCase {
  family: string;
  method: string;
  path: string;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
  /** Names the field the message must mention. */
  field: RegExp;
  /** A list whose length must not change. */
  list: string;
  count: (body: any) => number;
}

const LONG = 'x'.repeat(300);
const servers = { list: '/compute/v2.1/servers', count: (b: any) => b.servers.length };
const projects = { list: '/identity/v3/projects', count: (b: any) => b.projects.length };
const users = { list: '/identity/v3/users', count: (b: any) => b.users.length };
const flavors = { list: '/compute/v2.1/flavors?is_public=None', count: (b: any) => b.flavors.length };
const keypairs = { list: '/compute/v2.1/os-keypairs', count: (b: any) => b.keypairs.length };
const groups = { list: '/compute/v2.1/os-server-groups', count: (b: any) => b.server_groups.length };
const images = { list: '/image/v2/images?limit=1000', count: (b: any) => b.images.length };
const specs42 = { list: '/compute/v2.1/flavors/42/os-extra_specs', count: (b: any) => Object.keys(b.extra_specs).length };

const CASES: BadCase[] = [
  { family: 'identity: project', method: 'POST', path: '/identity/v3/projects', body: { project: { name: 5 } }, field: /name/, ...projects },
  { family: 'identity: project', method: 'POST', path: '/identity/v3/projects', body: { project: {} }, field: /name/, ...projects },
  { family: 'identity: project', method: 'POST', path: '/identity/v3/projects', body: { project: { name: LONG } }, field: /name/, ...projects },
  { family: 'identity: project', method: 'POST', path: '/identity/v3/projects', rawBody: '{"project": ', field: /body|JSON/i, ...projects },
  { family: 'identity: user', method: 'POST', path: '/identity/v3/users', body: { user: { name: 'u', enabled: 'yes' } }, field: /enabled/, ...users },
  { family: 'identity: user', method: 'POST', path: '/identity/v3/users', body: { user: { password: 'p' } }, field: /name/, ...users },
  { family: 'compute: flavor', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: 'f', ram: 'lots', vcpus: 1, disk: 1 } }, field: /ram/, ...flavors },
  { family: 'compute: flavor', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: 'f', ram: 64, disk: 1 } }, field: /vcpus/, ...flavors },
  { family: 'compute: flavor', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: LONG, ram: 64, vcpus: 1, disk: 1 } }, field: /name/, ...flavors },
  { family: 'compute: key pair', method: 'POST', path: '/compute/v2.1/os-keypairs', body: { keypair: { name: 'k', public_key: 'not a key' } }, field: /public_key|key/i, ...keypairs },
  { family: 'compute: key pair', method: 'POST', path: '/compute/v2.1/os-keypairs', body: { keypair: {} }, field: /name/, ...keypairs },
  { family: 'compute: server group', method: 'POST', path: '/compute/v2.1/os-server-groups', body: { server_group: { name: 'g', policies: ['sometimes'] } }, field: /polic/, ...groups },
  { family: 'compute: server group', method: 'POST', path: '/compute/v2.1/os-server-groups', body: { server_group: { policies: ['affinity'] } }, field: /name/, ...groups },
  // Flavor 42 has 1 vCPU: no topology of 3 sockets makes it.
  { family: 'compute: flavor extra specs', method: 'POST', path: '/compute/v2.1/flavors/42/os-extra_specs', body: { extra_specs: { 'hw:cpu_sockets': '3' } }, field: /hw:cpu_sockets/, ...specs42 },
  { family: 'compute: server', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '42', metadata: { k: 1 } } }, field: /metadata/, ...servers },
  { family: 'compute: server', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '42' }, 'os:scheduler_hints': { group: 'nope' } }, field: /group/, ...servers },
  { family: 'compute: server', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '42', key_name: 'no-such-key' } }, field: /key_name/, ...servers },
  { family: 'image', method: 'POST', path: '/image/v2/images', body: { name: 'i', disk_format: 'vmdk', container_format: 'bare' }, field: /disk_format/, ...images },
  { family: 'image', method: 'POST', path: '/image/v2/images', body: { name: 5, disk_format: 'raw', container_format: 'bare' }, field: /name/, ...images },
  { family: 'image', method: 'POST', path: '/image/v2/images', body: { name: 'i', disk_format: 'raw', container_format: 'ova' }, field: /container_format/, ...images },
];

describe('API contract', () => {
  let admin: OpenStackClient;

  beforeAll(async () => {
    admin = await adminClient();
  });

  it.each(CASES.map((c) => [c.family, JSON.stringify(c.body ?? c.rawBody).slice(0, 60), c] as const))(
    '%s refuses %s with 400 naming the field',
    async (_family, _body, c) => {
      const before = c.count(await admin.call('GET', c.list, 200));
      const reply = await admin.request(c.method, c.path, { body: c.body, rawBody: c.rawBody });
      expect(reply.status).toBe(400);
      const message = JSON.stringify(reply.body);
      expect(message).toMatch(c.field);
      expect(c.count(await admin.call('GET', c.list, 200))).toBe(before);
    },
  );

  it('refuses a quota set with a non-integer, naming the resource', async () => {
    const project = admin.projectId!;
    const before = (await admin.call('GET', `/compute/v2.1/os-quota-sets/${project}`, 200)).quota_set.instances;
    const reply = await admin.request('PUT', `/compute/v2.1/os-quota-sets/${project}`, { body: { quota_set: { instances: 'many' } } });
    expect(reply.status).toBe(400);
    expect(reply.body.badRequest.message).toMatch(/instances/);
    expect((await admin.call('GET', `/compute/v2.1/os-quota-sets/${project}`, 200)).quota_set.instances).toBe(before);
  });

  it('replays a POST with the same Idempotency-Key: one server, the same answer', async () => {
    const key = `idem-${Date.now()}`;
    const body = { server: { name: `idem-${key}`, flavorRef: '42' } };
    const first = await admin.request('POST', '/compute/v2.1/servers', { body, headers: { 'Idempotency-Key': key } });
    const second = await admin.request('POST', '/compute/v2.1/servers', { body, headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.server.id).toBe(first.body.server.id);
    const named = (await admin.call('GET', `/compute/v2.1/servers?name=^idem-${key}$`, 200)).servers;
    expect(named).toHaveLength(1);
    const other = await admin.request('POST', '/compute/v2.1/servers', {
      body: { server: { name: 'different', flavorRef: '42' } },
      headers: { 'Idempotency-Key': key },
    });
    expect(other.status).toBe(409);
    await admin.request('DELETE', `/compute/v2.1/servers/${first.body.server.id}`);
    await admin.waitForGone(first.body.server.id);
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await admin.request('GET', '/openapi.json', { headers: { 'x-auth-token': '' } });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    for (const path of ['/identity/v3/auth/tokens', '/compute/v2.1/servers', '/compute/v2.1/servers/{id}/action', '/image/v2/images', '/nubo/v1/hosts']) {
      expect(Object.keys(doc.body.paths)).toContain(path);
    }
    const ui = await admin.request('GET', '/docs', { headers: { 'x-auth-token': '' } });
    expect(ui.status).toBe(200);
    expect(String(ui.body)).toMatch(/swagger/i);
  });

  it('lists servers with filters and pages through them with markers', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await admin.createServer({ name: `page-${i}`, flavorRef: '42' }));
    const page1 = await admin.call('GET', '/compute/v2.1/servers?name=^page-&limit=2', 200);
    expect(page1.servers).toHaveLength(2);
    const next = new URL(page1.servers_links[0].href);
    const page2 = await admin.call('GET', `/compute/v2.1/servers${next.search}`, 200);
    expect(page2.servers).toHaveLength(1);
    expect([...page1.servers, ...page2.servers].map((s: any) => s.id).sort()).toEqual([...ids].sort());
    expect((await admin.request('GET', '/compute/v2.1/servers?status=FLYING')).status).toBe(400);
    for (const id of ids) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of ids) await admin.waitForGone(id);
  });
});
