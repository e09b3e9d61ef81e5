/**
 * Neutron's L3 API (routers, interfaces, gateways, floating IPs) driven by the stock `openstack`
 * CLI, unmodified, as the demo user with its openrc file, on an external network the admin makes;
 * then the error cases over HTTP, checked for Neutron's status and NeutronError type.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, demoClient } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { NetworkIdRecorder } from '../support/network-leaks';
import { openrcEnv } from '../support/openrc';

const run = promisify(execFile);
const N = '/network/v2.0';

describe('Neutron L3 through the openstack CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-neutron-l3-'));
  const demoEnv = openrcEnv(join(E2E.NUBO_STATE_DIR, 'openrc-demo'));
  const suffix = Date.now().toString(36);
  let admin: OpenStackClient;
  let demo: OpenStackClient;
  let extNet: string;
  let netId: string;
  let subnetId: string;
  const routers: string[] = [];
  const fips: string[] = [];
  const ports: string[] = [];
  const ids = new NetworkIdRecorder();

  async function osc(...args: string[]): Promise<any> {
    const { stdout } = await run('openstack', [...args, '-f', 'json'], { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 120_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }
  async function oscQuiet(...args: string[]): Promise<void> {
    await run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 120_000 });
  }
  async function expectError(client: OpenStackClient, method: string, path: string, body: unknown, status: number, type: string, message?: RegExp) {
    const reply = await client.request(method, `${N}${path}`, { body });
    expect({ status: reply.status, type: reply.body?.NeutronError?.type }).toEqual({ status, type });
    if (message) expect(reply.body.NeutronError.message).toMatch(message);
  }
  const routerOf = async (id: string) => (await demo.call('GET', `${N}/routers/${id}`, 200)).router;

  beforeAll(async () => {
    admin = await adminClient();
    demo = await demoClient();
    extNet = ids.network((await admin.call('POST', `${N}/networks`, 201, { network: { name: `public-${suffix}`, 'router:external': true } })).network.id);
    await admin.call('POST', `${N}/subnets`, 201, { subnet: { network_id: extNet, ip_version: 4, cidr: '198.51.100.0/24', enable_dhcp: false } });
    netId = ids.network((await osc('network', 'create', `l3net-${suffix}`)).id);
    subnetId = (await osc('subnet', 'create', `l3sub-${suffix}`, '--network', netId, '--subnet-range', '10.91.0.0/24')).id;
  });

  afterAll(async () => {
    for (const id of fips) await demo.request('DELETE', `${N}/floatingips/${id}`);
    for (const id of routers) {
      await demo.request('PUT', `${N}/routers/${id}/remove_router_interface`, { body: { subnet_id: subnetId } });
      await demo.request('DELETE', `${N}/routers/${id}`);
    }
    for (const id of ports) await demo.request('DELETE', `${N}/ports/${id}`);
    await demo.request('DELETE', `${N}/networks/${netId}`);
    await admin.request('DELETE', `${N}/networks/${extNet}`);
    rmSync(dir, { recursive: true, force: true });
    await ids.expectNoLeaks();
  });

  describe('the CLI', () => {
    let routerId: string;
    let portId: string;
    let fipId: string;

    it('creates, lists, shows and renames a router', async () => {
      const created = await osc('router', 'create', `r-${suffix}`);
      routerId = ids.router(created.id);
      routers.push(routerId);
      expect(created).toMatchObject({ name: `r-${suffix}`, status: 'ACTIVE', admin_state_up: true });
      expect((await osc('router', 'list')).map((r: { ID: string }) => r.ID)).toContain(routerId);
      await oscQuiet('router', 'set', '--name', `r2-${suffix}`, `r-${suffix}`);
      expect((await osc('router', 'show', routerId)).name).toBe(`r2-${suffix}`);
    });

    it('sets an external gateway with an address of the external subnet, SNAT on', async () => {
      await oscQuiet('router', 'set', '--external-gateway', `public-${suffix}`, routerId);
      const gw = (await routerOf(routerId)).external_gateway_info;
      expect(gw).toMatchObject({ network_id: extNet, enable_snat: true });
      expect(gw.external_fixed_ips).toEqual([{ subnet_id: expect.any(String), ip_address: expect.stringMatching(/^198\.51\.100\.\d+$/) }]);
    });

    it('adds a subnet as an interface holding its gateway address, shown in interfaces_info', async () => {
      await oscQuiet('router', 'add', 'subnet', routerId, `l3sub-${suffix}`);
      const shown = await osc('router', 'show', routerId);
      expect(JSON.stringify(shown.interfaces_info)).toContain('10.91.0.1');
      const itf = (await demo.call('GET', `${N}/ports?device_id=${routerId}&device_owner=network:router_interface`, 200)).ports;
      expect(itf).toHaveLength(1);
      await ids.portsOf(demo, routerId);
      expect(itf[0].fixed_ips).toEqual([{ subnet_id: subnetId, ip_address: '10.91.0.1' }]);
    });

    it('creates a floating IP, associates it with a port, lists, disassociates and deletes it', async () => {
      const port = await osc('port', 'create', '--network', netId, `l3port-${suffix}`);
      portId = ids.port(port.id, port.mac_address);
      ports.push(portId);
      const fip = await osc('floating', 'ip', 'create', `public-${suffix}`);
      fipId = fip.id;
      fips.push(fipId);
      expect(fip.floating_ip_address).toMatch(/^198\.51\.100\.\d+$/);
      expect(fip).toMatchObject({ status: 'DOWN', floating_network_id: extNet });
      await oscQuiet('floating', 'ip', 'set', '--port', portId, fipId);
      const associated = await osc('floating', 'ip', 'show', fip.floating_ip_address);
      expect(associated).toMatchObject({ id: fipId, port_id: portId, router_id: routerId, status: 'ACTIVE', fixed_ip_address: port.fixed_ips[0]?.ip_address ?? expect.any(String) });
      expect((await osc('floating', 'ip', 'list')).map((f: { ID: string }) => f.ID)).toContain(fipId);
      await oscQuiet('floating', 'ip', 'unset', '--port', fipId);
      expect(await osc('floating', 'ip', 'show', fipId)).toMatchObject({ port_id: null, router_id: null, status: 'DOWN' });
      await oscQuiet('floating', 'ip', 'delete', fipId);
      await expectError(demo, 'GET', `/floatingips/${fipId}`, undefined, 404, 'FloatingIPNotFound');
    });

    it('removes the interface and the gateway, then deletes the router', async () => {
      await oscQuiet('router', 'remove', 'subnet', routerId, `l3sub-${suffix}`);
      expect((await demo.call('GET', `${N}/ports?device_id=${routerId}`, 200)).ports).toHaveLength(0);
      await oscQuiet('router', 'unset', '--external-gateway', routerId);
      expect((await routerOf(routerId)).external_gateway_info).toBeNull();
      await oscQuiet('router', 'delete', routerId);
      await expectError(demo, 'GET', `/routers/${routerId}`, undefined, 404, 'RouterNotFound');
    });
  });

  describe('errors', () => {
    it('answers as Neutron does', async () => {
      const r = (await demo.call('POST', `${N}/routers`, 201, { router: { name: `re-${suffix}`, external_gateway_info: { network_id: extNet } } })).router;
      routers.push(ids.router(r.id));
      await expectError(demo, 'POST', '/routers', { router: { colour: 'red' } }, 400, 'BadRequest', /Unrecognized attribute\(s\) 'colour'/);
      await expectError(demo, 'POST', '/routers', { router: { external_gateway_info: { network_id: netId } } }, 400, 'BadRequest', /not an external network/);
      await expectError(demo, 'PUT', `/routers/${r.id}`, { router: { external_gateway_info: { network_id: extNet, enable_snat: false } } }, 403, 'HTTPForbidden');
      await expectError(demo, 'PUT', `/routers/${r.id}/add_router_interface`, {}, 400, 'BadRequest', /Either subnet_id or port_id/);
      const info = (await demo.call('PUT', `${N}/routers/${r.id}/add_router_interface`, 200, { subnet_id: subnetId }));
      expect(info).toMatchObject({ id: r.id, subnet_id: subnetId, network_id: netId, subnet_ids: [subnetId], port_id: expect.any(String) });
      await ids.portsOf(demo, r.id);
      await expectError(demo, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: subnetId }, 400, 'BadRequest', /already has a port on subnet/);
      const other = (await demo.call('POST', `${N}/routers`, 201, { router: { name: `ro-${suffix}` } })).router;
      routers.push(ids.router(other.id));
      await expectError(demo, 'PUT', `/routers/${other.id}/add_router_interface`, { subnet_id: subnetId }, 409, 'IpAddressAlreadyAllocated');
      const bare = (await demo.call('POST', `${N}/subnets`, 201, { subnet: { network_id: netId, ip_version: 4, cidr: '10.92.0.0/24', gateway_ip: null } })).subnet;
      await expectError(demo, 'PUT', `/routers/${other.id}/add_router_interface`, { subnet_id: bare.id }, 400, 'BadRequest', /must have a gateway IP/);
      await expectError(demo, 'PUT', `/routers/${other.id}/remove_router_interface`, { subnet_id: subnetId }, 404, 'RouterInterfaceNotFoundForSubnet');
      await expectError(demo, 'DELETE', `/routers/${r.id}`, undefined, 409, 'RouterInUse');
      await expectError(demo, 'GET', `/routers/${randomUUID()}`, undefined, 404, 'RouterNotFound');

      await expectError(demo, 'POST', '/floatingips', { floatingip: { floating_network_id: netId } }, 400, 'BadRequest', /not a valid external network/);
      await expectError(demo, 'POST', '/floatingips', {}, 400, 'BadRequest');
      const fip = (await demo.call('POST', `${N}/floatingips`, 201, { floatingip: { floating_network_id: extNet, floating_ip_address: '198.51.100.77' } })).floatingip;
      fips.push(fip.id);
      expect(fip.floating_ip_address).toBe('198.51.100.77');
      await expectError(demo, 'POST', '/floatingips', { floatingip: { floating_network_id: extNet, floating_ip_address: '198.51.100.77' } }, 409, 'IpAddressAlreadyAllocated');
      // A port on a subnet no router joins to the external network.
      const lonelyNet = (await demo.call('POST', `${N}/networks`, 201, { network: { name: `lonely-${suffix}` } })).network;
      ids.network(lonelyNet.id);
      await demo.call('POST', `${N}/subnets`, 201, { subnet: { network_id: lonelyNet.id, ip_version: 4, cidr: '10.93.0.0/24' } });
      const lonely = (await demo.call('POST', `${N}/ports`, 201, { port: { network_id: lonelyNet.id } })).port;
      ids.port(lonely.id, lonely.mac_address);
      await expectError(demo, 'PUT', `/floatingips/${fip.id}`, { floatingip: { port_id: lonely.id } }, 404, 'ExternalGatewayForFloatingIPNotFound', /is not reachable from subnet/);
      await demo.request('DELETE', `${N}/ports/${lonely.id}`);
      await demo.request('DELETE', `${N}/networks/${lonelyNet.id}`);
      // The floating IP in use keeps the router's interface and gateway.
      const port = (await demo.call('POST', `${N}/ports`, 201, { port: { network_id: netId, fixed_ips: [{ subnet_id: subnetId }] } })).port;
      ports.push(ids.port(port.id, port.mac_address));
      const set = (await demo.call('PUT', `${N}/floatingips/${fip.id}`, 200, { floatingip: { port_id: port.id } })).floatingip;
      expect(set).toMatchObject({ router_id: r.id, status: 'ACTIVE' });
      await expectError(demo, 'PUT', `/routers/${r.id}/remove_router_interface`, { subnet_id: subnetId }, 409, 'RouterInterfaceInUseByFloatingIP');
      await expectError(demo, 'PUT', `/routers/${r.id}`, { router: { external_gateway_info: {} } }, 409, 'RouterExternalGatewayInUseByFloatingIp');
      await demo.call('PUT', `${N}/floatingips/${fip.id}`, 200, { floatingip: { port_id: null } });
      await demo.call('DELETE', `${N}/subnets/${bare.id}`, 204);
    });
  });
});
