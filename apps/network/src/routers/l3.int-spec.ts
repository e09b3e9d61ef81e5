/**
 * Routers, floating IPs and the router sync's desired state against real PostgreSQL, in a
 * database of its own; each "instance" has its own connection pool, as replicas would.
 *
 * Checked by breaking a guarantee once: without the router's row lock (RoutersService.visible),
 * the same subnet added twice in parallel to one router got 409 IpAddressAlreadyAllocated instead of
 * Neutron's 400 "Router already has a port on subnet" (only the gateway address stopped it).
 */
import { NuboError } from '@nubo/contracts';
import { createDataSource } from '@nubo/database';
import { bridgeName } from '@nubo/netlinks';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RouterSync } from '../dataplane/router-sync';
import { RouterSpec } from '../dataplane/router';
import { FloatingIpsService } from '../floating-ips/floating-ips.service';
import { NetworksService } from '../networks/networks.service';
import { PortsService } from '../ports/ports.service';
import { SecurityGroupsService } from '../security-groups/security-groups.service';
import { SubnetsService } from '../subnets/subnets.service';
import { L3Changes } from './l3-store';
import { RouterInterfacesService } from './router-interfaces.service';
import { RoutersService } from './routers.service';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;

function instance(db: DataSource, changes: L3Changes) {
  const networks = new NetworksService(db, { first: 1000, last: 1999 });
  const routers = new RoutersService(db, networks, changes);
  return {
    networks,
    subnets: new SubnetsService(db, networks),
    ports: new PortsService(db, networks, new SecurityGroupsService(db)),
    routers,
    interfaces: new RouterInterfacesService(db, routers, changes),
    fips: new FloatingIpsService(db, networks, changes),
  };
}
type Instance = ReturnType<typeof instance>;

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof NuboError) return String(e.details.type ?? e.code);
    throw e;
  }
}

run('Neutron L3 against PostgreSQL', () => {
  let database: PrivateDatabase;
  const sources: DataSource[] = [];
  const instances: Instance[] = [];
  let changed = 0;
  const changes = new L3Changes();
  changes.subscribe(() => changed++);
  const admin = { projectId: 'admin-project', isAdmin: true };
  let project: { projectId: string; isAdmin: boolean };
  let ext: { net: string; subnet: string };

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_neutron_l3', ['network']);
    for (let i = 0; i < 3; i++) {
      const ds = createDataSource({ url: database.url, schemas: ['network'], applicationName: `network-l3-${i}`, poolSize: 5 });
      sources.push(await ds.initialize());
      instances.push(instance(ds, changes));
    }
    const net = await instances[0].networks.create(admin, { network: { name: 'public', 'router:external': true } });
    const subnet = await instances[0].subnets.create(admin, { subnet: { network_id: net.id, ip_version: 4, cidr: '203.0.113.0/24' } });
    ext = { net: net.id as string, subnet: subnet.id as string };
  }, 60_000);

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.destroy()));
    await database?.drop();
  });

  beforeEach(() => {
    project = { projectId: `p-${randomUUID().slice(0, 8)}`, isAdmin: false };
  });

  const any = (i: number) => instances[i % instances.length];

  async function tenantSubnet(cidr: string, extra: Record<string, unknown> = {}) {
    const net = await any(0).networks.create(project, { network: { name: 'n' } });
    const subnet = await any(0).subnets.create(project, { subnet: { network_id: net.id, ip_version: 4, cidr, ...extra } });
    return { net: net.id as string, subnet: subnet.id as string };
  }
  const router = async (gateway = true) =>
    (await any(0).routers.create(project, { router: { name: 'r', ...(gateway ? { external_gateway_info: { network_id: ext.net } } : {}) } })).id as string;

  describe('router interfaces', () => {
    it('gives one subnet gateway to one of two routers adding it in parallel (409 for the other)', async () => {
      const { subnet } = await tenantSubnet('10.1.0.0/24');
      const [r1, r2] = [await router(false), await router(false)];
      const results = await Promise.all([r1, r2].map((r, i) => outcome(any(i).interfaces.add(project, r, { subnet_id: subnet }))));
      expect(results.sort()).toEqual(['IpAddressAlreadyAllocated', 'ok']);
      const holders = await sources[0].query(`SELECT port_id FROM network.ip_allocations WHERE subnet_id = $1 AND ip_address = '10.1.0.1'`, [subnet]);
      expect(holders).toHaveLength(1);
      const ports = await sources[0].query(`SELECT id FROM network.ports WHERE device_owner = 'network:router_interface' AND device_id = ANY($1)`, [[r1, r2]]);
      expect(ports).toHaveLength(1);
    });

    it('adds a subnet once when one router asks twice in parallel (400 for the other)', async () => {
      const { subnet } = await tenantSubnet('10.2.0.0/24');
      const r = await router(false);
      const results = await Promise.all([0, 1].map((i) => outcome(any(i).interfaces.add(project, r, { subnet_id: subnet }))));
      expect(results.sort()).toEqual(['BadRequest', 'ok']);
    });

    it('refuses a subnet without a gateway, an overlapping one, and deleting a router that has interfaces', async () => {
      const none = await tenantSubnet('10.3.0.0/24', { gateway_ip: null });
      const r = await router(false);
      expect(await outcome(any(0).interfaces.add(project, r, { subnet_id: none.subnet }))).toBe('BadRequest');
      const a = await tenantSubnet('10.4.0.0/24');
      const b = await tenantSubnet('10.4.0.0/25');
      const info = await any(0).interfaces.add(project, r, { subnet_id: a.subnet });
      expect(info).toMatchObject({ id: r, subnet_id: a.subnet, network_id: a.net, subnet_ids: [a.subnet] });
      expect(await outcome(any(1).interfaces.add(project, r, { subnet_id: b.subnet }))).toBe('BadRequest');
      expect(await outcome(any(1).routers.delete(project, r))).toBe('RouterInUse');
      expect(await any(2).interfaces.remove(project, r, { subnet_id: a.subnet })).toMatchObject({ port_id: info.port_id });
      expect(await outcome(any(2).interfaces.remove(project, r, { subnet_id: a.subnet }))).toBe('RouterInterfaceNotFoundForSubnet');
      expect(await outcome(any(0).routers.delete(project, r))).toBe('ok');
    });

    it('hides another project\'s router (404)', async () => {
      const r = await router(false);
      const other = { projectId: 'someone-else', isAdmin: false };
      expect(await outcome(any(1).routers.show(other, r, {}))).toBe('RouterNotFound');
    });
  });

  describe('gateway', () => {
    it('takes an address of the external subnet, and refuses a network that is not external', async () => {
      const r = await any(0).routers.create(project, { router: { external_gateway_info: { network_id: ext.net } } });
      const gw = r.external_gateway_info as { network_id: string; enable_snat: boolean; external_fixed_ips: Array<{ subnet_id: string; ip_address: string }> };
      expect(gw).toMatchObject({ network_id: ext.net, enable_snat: true });
      expect(gw.external_fixed_ips).toEqual([{ subnet_id: ext.subnet, ip_address: expect.stringMatching(/^203\.0\.113\.\d+$/) }]);
      const { net } = await tenantSubnet('10.5.0.0/24');
      expect(await outcome(any(1).routers.update(project, r.id as string, { router: { external_gateway_info: { network_id: net } } }))).toBe('BadRequest');
      const cleared = await any(1).routers.update(project, r.id as string, { router: { external_gateway_info: {} } });
      expect(cleared.external_gateway_info).toBeNull();
      const [{ n }] = await sources[0].query(`SELECT count(*)::int AS n FROM network.ports WHERE device_id = $1`, [r.id]);
      expect(n).toBe(0);
    });

    it('leaves out of the desired routers one with nothing to route and one that is down', async () => {
      const idle = await router(false);
      const down = await router(true);
      await any(0).routers.update(project, down, { router: { admin_state_up: false } });
      const gatewayOnly = await router(true);
      const specs = await new RouterSync(sources[2], { sync: jest.fn() }, {}).desired();
      expect(specs.map((s) => s.routerId)).not.toEqual(expect.arrayContaining([idle]));
      expect(specs.map((s) => s.routerId)).not.toEqual(expect.arrayContaining([down]));
      const spec = specs.find((s) => s.routerId === gatewayOnly)!;
      expect(spec).toMatchObject({ interfaces: [], floatingIps: [], gateway: { bridge: bridgeName(ext.net), nextHop: '203.0.113.1', enableSnat: true } });
      expect(spec.gateway).not.toHaveProperty('bridgeNetns');
    });

    it('answers the 11th router of a project with OverQuota', async () => {
      for (let i = 0; i < 10; i++) await any(i).routers.create(project, { router: {} });
      expect(await outcome(any(0).routers.create(project, { router: {} }))).toBe('OverQuota');
    });
  });

  describe('floating IPs', () => {
    it('gives one asked-for address to one of two floating IPs created in parallel', async () => {
      const other = { projectId: `${project.projectId}-b`, isAdmin: false };
      const body = { floatingip: { floating_network_id: ext.net, floating_ip_address: '203.0.113.200' } };
      const results = await Promise.all([project, other].map((p, i) => outcome(any(i).fips.create(p, body))));
      expect(results.sort()).toEqual(['IpAddressAlreadyAllocated', 'ok']);
      const rows = await sources[0].query(`SELECT id FROM network.floating_ips WHERE floating_ip_address = '203.0.113.200'`);
      expect(rows).toHaveLength(1);
      const ports = await sources[0].query(`SELECT p.id FROM network.ports p WHERE p.device_owner = 'network:floatingip'
        AND NOT EXISTS (SELECT 1 FROM network.floating_ips f WHERE f.floating_port_id = p.id)`);
      expect(ports).toHaveLength(0);
    });

    it('associates only through a router with a gateway on the floating network, and keeps that path while in use', async () => {
      const { net, subnet } = await tenantSubnet('10.6.0.0/24');
      const port = await any(0).ports.create(project, { port: { network_id: net } });
      const fip = await any(0).fips.create(project, { floatingip: { floating_network_id: ext.net } });
      expect(fip).toMatchObject({ status: 'DOWN', router_id: null, port_id: null });
      expect(await outcome(any(1).fips.update(project, fip.id as string, { floatingip: { port_id: port.id } }))).toBe('ExternalGatewayForFloatingIPNotFound');
      const r = await router(true);
      await any(0).interfaces.add(project, r, { subnet_id: subnet });
      const associated = await any(1).fips.update(project, fip.id as string, { floatingip: { port_id: port.id } });
      const fixed = (port.fixed_ips as Array<{ ip_address: string }>)[0].ip_address;
      expect(associated).toMatchObject({ status: 'ACTIVE', router_id: r, port_id: port.id, fixed_ip_address: fixed });
      const second = await any(2).fips.create(project, { floatingip: { floating_network_id: ext.net } });
      expect(await outcome(any(2).fips.update(project, second.id as string, { floatingip: { port_id: port.id } }))).toBe('FloatingIPPortAlreadyAssociated');
      expect(await outcome(any(0).interfaces.remove(project, r, { subnet_id: subnet }))).toBe('RouterInterfaceInUseByFloatingIP');
      expect(await outcome(any(0).routers.update(project, r, { router: { external_gateway_info: {} } }))).toBe('RouterExternalGatewayInUseByFloatingIp');

      const specs = await new RouterSync(sources[1], { sync: jest.fn() }, { netns: 'it-net' }).desired();
      const gwPort = (await any(0).ports.list(admin, { device_id: r, device_owner: 'network:router_gateway' }))[0];
      const itfPort = (await any(0).ports.list(admin, { device_id: r, device_owner: 'network:router_interface' }))[0];
      const gwIp = (gwPort.fixed_ips as Array<{ ip_address: string }>)[0].ip_address;
      expect(specs.find((s) => s.routerId === r)).toEqual<RouterSpec>({
        routerId: r,
        interfaces: [{ portId: itfPort.id as string, mac: itfPort.mac_address as string, cidrs: ['10.6.0.1/24'], mtu: 1450, bridge: bridgeName(net), bridgeNetns: 'it-net' }],
        gateway: {
          portId: gwPort.id as string, mac: gwPort.mac_address as string, cidr: `${gwIp}/24`, nextHop: '203.0.113.1', enableSnat: true, mtu: 1450,
          bridge: bridgeName(ext.net), bridgeNetns: 'it-net',
        },
        floatingIps: [{ floatingIp: associated.floating_ip_address as string, fixedIp: fixed }],
      });

      const before = changed;
      const unset = await any(0).fips.update(project, fip.id as string, { floatingip: { port_id: null } });
      expect(unset).toMatchObject({ status: 'DOWN', router_id: null, port_id: null, fixed_ip_address: null });
      expect(changed).toBeGreaterThan(before);
      // A port deleted under a floating IP leaves it unassociated.
      await any(1).fips.update(project, second.id as string, { floatingip: { port_id: port.id } });
      await any(1).ports.delete(project, port.id as string);
      expect(await any(2).fips.show(project, second.id as string, {})).toMatchObject({ status: 'DOWN', port_id: null, router_id: null, fixed_ip_address: null });
      await any(0).fips.delete(project, fip.id as string);
      expect(await outcome(any(0).fips.show(project, fip.id as string, {}))).toBe('FloatingIPNotFound');
    });

    it('refuses a network that is not external (400)', async () => {
      const { net } = await tenantSubnet('10.7.0.0/24');
      expect(await outcome(any(0).fips.create(project, { floatingip: { floating_network_id: net } }))).toBe('BadRequest');
    });
  });
});
