/**
 * Nova's security groups of servers through the stock `openstack` CLI as the demo user, checked
 * through the API: `server create --security-group` puts the group on the port made for the
 * network (a given port keeps its own), `server show` and os-security-groups list them, `server
 * add/remove security group` change every port of the server; an unknown group creates nothing;
 * a router's interface port cannot be deleted through the port API. Firmware-only guests (a blank
 * image): nothing needs to boot beyond ACTIVE.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { demoClient } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(600_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const N = '/network/v2.0';
const C = '/compute/v2.1';

(isRoot ? describe : describe.skip)('security groups of servers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-server-sg-'));
  const demoEnv = openrcEnv(join(E2E.NUBO_STATE_DIR, 'openrc-demo'));
  const suffix = Date.now().toString(36);
  const net = `sgnet-${suffix}`;
  const web = `sgweb-${suffix}`;
  const image = `sgimg-${suffix}`;
  const made = { servers: [] as string[], port: '', router: '', subnet: '', network: '', group: '', image: '' };
  let demo: OpenStackClient;
  let webId: string;
  let defaultId: string;

  async function osc(...args: string[]): Promise<any> {
    const { stdout } = await run('openstack', [...args, '-f', 'json'], { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 300_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }
  async function oscQuiet(...args: string[]): Promise<void> {
    await run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 300_000 });
  }
  const portsOf = async (deviceId: string) => (await demo.call('GET', `${N}/ports?device_id=${deviceId}`, 200)).ports as any[];
  const portsOnNet = async () => (await demo.call('GET', `${N}/ports?network_id=${made.network}`, 200)).ports as any[];

  beforeAll(async () => {
    demo = await demoClient();
    made.network = (await osc('network', 'create', net)).id;
    made.subnet = (await osc('subnet', 'create', '--network', net, '--subnet-range', '10.93.0.0/24', `sgsub-${suffix}`)).id;
    made.group = webId = (await osc('security', 'group', 'create', web)).id;
    defaultId = (await demo.call('GET', `${N}/security-groups?name=default`, 200)).security_groups.find((g: any) => g.project_id === demo.projectId).id;
    made.port = (await osc('port', 'create', '--network', net, `sgport-${suffix}`)).id;
    writeFileSync(join(dir, 'blank.raw'), Buffer.alloc(1024 * 1024));
    await oscQuiet('image', 'create', '--file', join(dir, 'blank.raw'), '--disk-format', 'raw', '--container-format', 'bare', image);
    made.image = (await osc('image', 'show', image)).id;
  });

  afterAll(async () => {
    for (const id of made.servers) await demo.request('DELETE', `${C}/servers/${id}`);
    for (const id of made.servers) await demo.waitForGone(id, 180_000).catch(() => undefined);
    if (made.router) {
      await demo.request('PUT', `${N}/routers/${made.router}/remove_router_interface`, { body: { subnet_id: made.subnet } });
      await demo.request('DELETE', `${N}/routers/${made.router}`);
    }
    if (made.port) await demo.request('DELETE', `${N}/ports/${made.port}`);
    if (made.group) await demo.request('DELETE', `${N}/security-groups/${made.group}`);
    if (made.network) await demo.request('DELETE', `${N}/networks/${made.network}`);
    if (made.image) await demo.request('DELETE', `/image/v2/images/${made.image}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('server create --security-group: the port made for the network carries the group, a given port keeps its own', async () => {
    const created = await osc(
      'server', 'create', '--flavor', '1', '--image', image, '--security-group', web,
      '--network', net, '--port', made.port, '--wait', `sgvm-${suffix}`,
    );
    made.servers.push(created.id);
    const ports = await portsOf(created.id);
    expect(ports).toHaveLength(2);
    const given = ports.find((p) => p.id === made.port);
    const ours = ports.find((p) => p.id !== made.port);
    expect(ours.security_groups).toEqual([webId]);
    expect(given.security_groups).toEqual([defaultId]);

    const raw = (await demo.call('GET', `${C}/servers/${created.id}`, 200)).server;
    expect(raw.security_groups).toEqual(expect.arrayContaining([{ name: web }, { name: 'default' }]));
    expect(raw.security_groups).toHaveLength(2);
    const shown = await osc('server', 'show', created.id);
    expect(JSON.stringify(shown.security_groups)).toContain(web);
    const listed = (await demo.call('GET', `${C}/servers/detail?name=sgvm-${suffix}`, 200)).servers[0];
    expect(listed.security_groups).toEqual(raw.security_groups);

    const { security_groups: details } = await demo.call('GET', `${C}/servers/${created.id}/os-security-groups`, 200);
    expect(details.map((g: any) => g.id).sort()).toEqual([defaultId, webId].sort());
    const def = details.find((g: any) => g.id === defaultId);
    expect(def).toMatchObject({ name: 'default', tenant_id: demo.projectId });
    expect(def.rules).toContainEqual(expect.objectContaining({ parent_group_id: defaultId, group: { name: 'default', tenant_id: demo.projectId }, ip_range: {} }));
  });

  it('server add / remove security group change every port of the server', async () => {
    const id = made.servers[0];
    await oscQuiet('server', 'add', 'security', 'group', id, 'default');
    const byId = async () => Object.fromEntries((await portsOf(id)).map((p) => [p.id, [...p.security_groups].sort()]));
    const ours = (await portsOf(id)).find((p) => p.id !== made.port).id;
    expect(await byId()).toEqual({ [ours]: [defaultId, webId].sort(), [made.port]: [defaultId] });

    await oscQuiet('server', 'remove', 'security', 'group', id, web);
    expect(await byId()).toEqual({ [ours]: [defaultId], [made.port]: [defaultId] });
    expect((await demo.call('GET', `${C}/servers/${id}`, 200)).server.security_groups).toEqual([{ name: 'default' }]);

    // By id too (the CLI sends the id it found through GET /os-security-groups).
    await demo.call('POST', `${C}/servers/${id}/action`, 202, { addSecurityGroup: { name: webId } });
    expect((await byId())[ours]).toEqual([defaultId, webId].sort());
    await demo.call('POST', `${C}/servers/${id}/action`, 202, { removeSecurityGroup: { name: webId } });
  });

  it("answers Nova's errors: unknown group 404, a group the server does not have 404, no name 400", async () => {
    const id = made.servers[0];
    const unknown = await demo.request('POST', `${C}/servers/${id}/action`, { body: { addSecurityGroup: { name: `nope-${suffix}` } } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.itemNotFound.message).toBe(`Security group nope-${suffix} is not found for project ${demo.projectId}`);
    const notOn = await demo.request('POST', `${C}/servers/${id}/action`, { body: { removeSecurityGroup: { name: web } } });
    expect(notOn.status).toBe(404);
    expect(notOn.body.itemNotFound.message).toBe(`Security group ${web} not associated with the instance ${id}`);
    const empty = await demo.request('POST', `${C}/servers/${id}/action`, { body: { addSecurityGroup: {} } });
    expect(empty.status).toBe(400);
    expect(empty.body.badRequest.message).toBe('Security group not specified');
  });

  it('refuses an unknown group on create with 400 naming it, creating no server and no port', async () => {
    const servers = (await demo.call('GET', `${C}/servers`, 200)).servers.length;
    const ports = (await portsOnNet()).length;
    const res = await demo.request('POST', `${C}/servers`, {
      body: { server: { name: `sgbad-${suffix}`, flavorRef: '1', imageRef: made.image, networks: [{ uuid: made.network }], security_groups: [{ name: `nope-${suffix}` }] } },
    });
    expect(res.status).toBe(400);
    expect(res.body.badRequest.message).toBe(`Unable to find security_group with name or id 'nope-${suffix}'`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await demo.call('GET', `${C}/servers`, 200)).servers.length).toBe(servers);
    expect((await portsOnNet()).length).toBe(ports);
  });

  it('refuses to delete a router interface port directly (409 ServicePortInUse), deleting nothing', async () => {
    made.router = (await demo.call('POST', `${N}/routers`, 201, { router: { name: `sgr-${suffix}` } })).router.id;
    await demo.call('PUT', `${N}/routers/${made.router}/add_router_interface`, 200, { subnet_id: made.subnet });
    const [itf] = (await demo.call('GET', `${N}/ports?device_id=${made.router}&device_owner=network:router_interface`, 200)).ports;
    const res = await demo.request('DELETE', `${N}/ports/${itf.id}`);
    expect(res.status).toBe(409);
    expect(res.body.NeutronError).toMatchObject({
      type: 'ServicePortInUse',
      message: `Port ${itf.id} cannot be deleted directly via the port API: has device owner network:router_interface.`,
    });
    expect((await demo.request('GET', `${N}/ports/${itf.id}`)).status).toBe(200);
  });
});
