/**
 * Invariant 5, generated: for every resource type and every verb, project B given project A's
 * ids gets 404 (as if they did not exist), A's objects stay untouched, and B's lists show none
 * of them. Ids nested in request bodies (a server group in scheduler hints) answer 404 too.
 */
import { OpenStackClient } from '@nubo/client';
import { randomUUID } from 'node:crypto';
import { adminClient } from '../support/cloud';
import { Tenant, createTenant, deleteTenant } from '../support/tenants';

interface Verb {
  method: string;
  path: (id: string) => string;
  body?: (id: string) => unknown;
}

interface ResourceType {
  name: string;
  /** Creates one in project A and returns its id (or name for key pairs). */
  create: (a: OpenStackClient) => Promise<string>;
  /** How A reads it back, to prove B's attempts changed nothing. */
  show: (id: string) => string;
  verbs: Verb[];
  lists: Array<{ path: string; ids: (body: any) => string[] }>;
}

const SERVER_ACTIONS = ['os-stop', 'os-start', 'pause', 'unpause', 'suspend', 'resume'].map((action) => ({
  method: 'POST',
  path: (id: string) => `/compute/v2.1/servers/${id}/action`,
  body: () => ({ [action]: null }),
}));

const RESOURCES: ResourceType[] = [
  {
    name: 'server',
    create: async (a) => {
      const id = await a.createServer({ name: 'iso-server', flavorRef: '42' });
      await a.waitForStatus(id, 'ACTIVE');
      return id;
    },
    show: (id) => `/compute/v2.1/servers/${id}`,
    verbs: [
      { method: 'GET', path: (id) => `/compute/v2.1/servers/${id}` },
      { method: 'PUT', path: (id) => `/compute/v2.1/servers/${id}`, body: () => ({ server: { name: 'stolen' } }) },
      { method: 'DELETE', path: (id) => `/compute/v2.1/servers/${id}` },
      ...SERVER_ACTIONS,
      { method: 'POST', path: (id) => `/compute/v2.1/servers/${id}/action`, body: () => ({ reboot: { type: 'HARD' } }) },
      { method: 'GET', path: (id) => `/compute/v2.1/servers/${id}/os-instance-actions` },
      { method: 'GET', path: (id) => `/nubo/v1/servers/${id}/status` },
    ],
    lists: [
      { path: '/compute/v2.1/servers', ids: (b) => b.servers.map((s: any) => s.id) },
      { path: '/compute/v2.1/servers/detail', ids: (b) => b.servers.map((s: any) => s.id) },
      { path: '/compute/v2.1/servers?all_tenants=1', ids: (b) => b.servers.map((s: any) => s.id) },
    ],
  },
  {
    name: 'server group',
    create: async (a) =>
      (await a.call('POST', '/compute/v2.1/os-server-groups', 200, { server_group: { name: 'iso-group', policies: ['anti-affinity'] } }))
        .server_group.id,
    show: (id) => `/compute/v2.1/os-server-groups/${id}`,
    verbs: [
      { method: 'GET', path: (id) => `/compute/v2.1/os-server-groups/${id}` },
      { method: 'DELETE', path: (id) => `/compute/v2.1/os-server-groups/${id}` },
    ],
    lists: [
      { path: '/compute/v2.1/os-server-groups', ids: (b) => b.server_groups.map((g: any) => g.id) },
      { path: '/compute/v2.1/os-server-groups?all_projects=True', ids: (b) => b.server_groups.map((g: any) => g.id) },
    ],
  },
  {
    name: 'key pair',
    create: async (a) => {
      const name = `iso-key-${randomUUID().slice(0, 6)}`;
      await a.call('POST', '/compute/v2.1/os-keypairs', 200, { keypair: { name } });
      return name;
    },
    show: (name) => `/compute/v2.1/os-keypairs/${name}`,
    verbs: [
      { method: 'GET', path: (name) => `/compute/v2.1/os-keypairs/${name}` },
      { method: 'DELETE', path: (name) => `/compute/v2.1/os-keypairs/${name}` },
    ],
    lists: [{ path: '/compute/v2.1/os-keypairs', ids: (b) => b.keypairs.map((k: any) => k.keypair.name) }],
  },
  {
    name: 'image',
    create: async (a) => {
      const image = await a.call('POST', '/image/v2/images', 201, { name: 'iso-image', disk_format: 'raw', container_format: 'bare' });
      return image.id;
    },
    show: (id) => `/image/v2/images/${id}`,
    verbs: [
      { method: 'GET', path: (id) => `/image/v2/images/${id}` },
      { method: 'DELETE', path: (id) => `/image/v2/images/${id}` },
      { method: 'GET', path: (id) => `/image/v2/images/${id}/file` },
    ],
    lists: [{ path: '/image/v2/images', ids: (b) => b.images.map((i: any) => i.id) }],
  },
];

describe('tenant isolation', () => {
  let admin: OpenStackClient;
  let a: Tenant;
  let b: Tenant;
  const made = new Map<string, string>();

  beforeAll(async () => {
    admin = await adminClient();
    [a, b] = await Promise.all([createTenant(admin, 'iso-a'), createTenant(admin, 'iso-b')]);
    for (const type of RESOURCES) made.set(type.name, await type.create(a.client));
  });

  afterAll(async () => {
    const server = made.get('server');
    if (server) {
      await a.client.request('DELETE', `/compute/v2.1/servers/${server}`);
      await a.client.waitForGone(server).catch(() => undefined);
    }
    for (const type of RESOURCES.filter((t) => t.name !== 'server')) {
      const id = made.get(type.name);
      if (id) await a.client.request('DELETE', type.show(id));
    }
    await Promise.all([a, b].filter(Boolean).map((t) => deleteTenant(admin, t)));
  });

  for (const type of RESOURCES) {
    describe(type.name, () => {
      for (const verb of type.verbs) {
        it(`${verb.method} ${verb.path(':id')} with A's id answers 404 to B`, async () => {
          const id = made.get(type.name)!;
          const reply = await b.client.request(verb.method, verb.path(id), { body: verb.body?.(id) });
          expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 404 });
          expect((await a.client.request('GET', type.show(id))).status).toBe(200);
        });
      }
      for (const list of type.lists) {
        it(`GET ${list.path} shows B nothing of A's`, async () => {
          const reply = await b.client.call('GET', list.path, 200);
          expect(list.ids(reply)).not.toContain(made.get(type.name));
          const own = await a.client.call('GET', list.path.split('?')[0], 200);
          expect(list.ids(own)).toContain(made.get(type.name));
        });
      }
    });
  }

  it("answers 404 for A's server group named in B's create request, creating nothing", async () => {
    const before = (await b.client.call('GET', '/compute/v2.1/servers', 200)).servers.length;
    const reply = await b.client.request('POST', '/compute/v2.1/servers', {
      body: { server: { name: 'x', flavorRef: '42' }, 'os:scheduler_hints': { group: made.get('server group') } },
    });
    expect(reply.status).toBe(404);
    expect((await b.client.call('GET', '/compute/v2.1/servers', 200)).servers.length).toBe(before);
  });

  it("answers 404 for A's private image named in B's create request", async () => {
    const reply = await b.client.request('POST', '/compute/v2.1/servers', {
      body: { server: { name: 'x', flavorRef: '42', imageRef: made.get('image') } },
    });
    expect([400, 404]).toContain(reply.status);
    expect(JSON.stringify(reply.body)).toMatch(/could not be found/);
  });
});
