/**
 * The network service's races and rules against real PostgreSQL, in a database of its own. Each
 * "service instance" is a set of Neutron services with its own connection pool, as replicas of the
 * network service would be.
 *
 * Checked by breaking the guarantees once: without the network row lock in port create
 * (networks.visible(.., false)), 20 parallel ports of 20 projects met the unique index and got 409
 * IpAddressAlreadyAllocated for 10.0.0.2; without the advisory lock in allocateVni, parallel
 * networks got 409 TunnelIdInUse. (Creates of one project take turns on the quota lock anyway,
 * hence one project per port and per network in those races.)
 */
import { NuboError } from '@nubo/contracts';
import { createDataSource } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { cidrsOverlap } from './common/ipv4';
import { NetworksService } from './networks/networks.service';
import { PortsService } from './ports/ports.service';
import { SecurityGroupRulesService } from './security-groups/security-group-rules.service';
import { SecurityGroupsService } from './security-groups/security-groups.service';
import { parseCidr } from './subnets/subnet-body';
import { SubnetsService } from './subnets/subnets.service';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;

interface Instance {
  networks: NetworksService;
  subnets: SubnetsService;
  ports: PortsService;
  groups: SecurityGroupsService;
  rules: SecurityGroupRulesService;
}

function instance(db: DataSource, vnis = { first: 1000, last: 1999 }): Instance {
  const networks = new NetworksService(db, vnis);
  const groups = new SecurityGroupsService(db);
  return { networks, subnets: new SubnetsService(db, networks), ports: new PortsService(db, networks, groups), groups, rules: new SecurityGroupRulesService(db, groups) };
}

/** The Neutron type of a rejection, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof NuboError) return String(e.details.type ?? e.code);
    throw e;
  }
}

run('Neutron services against PostgreSQL', () => {
  let database: PrivateDatabase;
  const sources: DataSource[] = [];
  const instances: Instance[] = [];
  let project: { projectId: string; isAdmin: boolean };
  const admin = { projectId: 'admin-project', isAdmin: true };

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_neutron', ['network']);
    for (let i = 0; i < 4; i++) {
      const ds = createDataSource({ url: database.url, schemas: ['network'], applicationName: `network-${i}`, poolSize: 6 });
      sources.push(await ds.initialize());
      instances.push(instance(ds));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.destroy()));
    await database?.drop();
  });

  beforeEach(() => {
    project = { projectId: `p-${randomUUID().slice(0, 8)}`, isAdmin: false };
  });

  const any = (i: number) => instances[i % instances.length];

  async function networkWithSubnet(cidr: string, extra: Record<string, unknown> = {}) {
    const net = await any(0).networks.create(project, { network: { name: 'n' } });
    const subnet = await any(0).subnets.create(project, { subnet: { network_id: net.id, ip_version: 4, cidr, ...extra } });
    return { net: net.id as string, subnet: subnet.id as string };
  }

  describe('ports', () => {
    it('gives 20 parallel ports of 20 projects on a shared network 20 different addresses', async () => {
      // One project each, so that the per-project quota lock does not make them take turns.
      const net = (await any(0).networks.create(admin, { network: { shared: true } })).id as string;
      const subnet = (await any(0).subnets.create(admin, { subnet: { network_id: net, ip_version: 4, cidr: '10.0.0.0/24' } })).id as string;
      const projects = Array.from({ length: 20 }, (_, i) => ({ projectId: `${project.projectId}-${i}`, isAdmin: false }));
      const ports = await Promise.all(projects.map((p, i) => any(i).ports.create(p, { port: { network_id: net } })));
      const ips = ports.map((p) => (p.fixed_ips as Array<{ ip_address: string; subnet_id: string }>)[0]);
      expect(new Set(ips.map((a) => a.ip_address)).size).toBe(20);
      expect(ips.every((a) => a.subnet_id === subnet)).toBe(true);
      expect(ips.map((a) => a.ip_address).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 2}`).sort());
      expect(new Set(ports.map((p) => p.mac_address)).size).toBe(20);
    });

    it('hands out the last addresses once and then answers IpAddressGenerationFailure', async () => {
      const { net } = await networkWithSubnet('10.0.1.0/24', { allocation_pools: [{ start: '10.0.1.10', end: '10.0.1.14' }] });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(any(i).ports.create(project, { port: { network_id: net } }))));
      expect(results.filter((r) => r === 'ok')).toHaveLength(5);
      expect(results.filter((r) => r === 'IpAddressGenerationFailure')).toHaveLength(15);
      const [{ n }] = await sources[0].query(`SELECT count(DISTINCT ip_address)::int AS n FROM network.ip_allocations WHERE network_id = $1`, [net]);
      expect(n).toBe(5);
    });

    it('gives one requested address to one of 10 parallel ports', async () => {
      const { net, subnet } = await networkWithSubnet('10.0.2.0/24');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => outcome(any(i).ports.create(project, { port: { network_id: net, fixed_ips: [{ subnet_id: subnet, ip_address: '10.0.2.50' }] } }))),
      );
      expect(results.sort()).toEqual([...Array(9).fill('IpAddressAlreadyAllocated'), 'ok']);
    });

    it('frees the addresses of a deleted port', async () => {
      const { net } = await networkWithSubnet('10.0.3.0/24', { allocation_pools: [{ start: '10.0.3.5', end: '10.0.3.5' }] });
      const port = await any(0).ports.create(project, { port: { network_id: net } });
      expect(await outcome(any(1).ports.create(project, { port: { network_id: net } }))).toBe('IpAddressGenerationFailure');
      await any(2).ports.delete(project, port.id as string);
      const again = await any(3).ports.create(project, { port: { network_id: net } });
      expect(again.fixed_ips).toEqual([{ subnet_id: expect.any(String), ip_address: '10.0.3.5' }]);
    });

    it('puts a port in the default group and keeps a network with ports', async () => {
      const { net, subnet } = await networkWithSubnet('10.0.4.0/24');
      const port = await any(0).ports.create(project, { port: { network_id: net } });
      const [group] = await any(1).groups.list(project, { name: 'default' });
      expect(port.security_groups).toEqual([group.id]);
      expect(port.status).toBe('DOWN');
      expect(await outcome(any(0).networks.delete(project, net))).toBe('NetworkInUse');
      expect(await outcome(any(0).subnets.delete(project, subnet))).toBe('SubnetInUse');
      expect(await outcome(any(0).groups.delete(project, group.id as string))).toBe('SecurityGroupCannotRemoveDefault');
      const other = await any(0).groups.create(project, { security_group: { name: 'web' } });
      await any(0).ports.update(project, port.id as string, { port: { security_groups: [other.id] } });
      expect(await outcome(any(0).groups.delete(project, other.id as string))).toBe('SecurityGroupInUse');
      await any(0).ports.delete(project, port.id as string);
      await any(0).groups.delete(project, other.id as string);
      await any(0).networks.delete(project, net);
      expect(await outcome(any(0).subnets.show(project, subnet, {}))).toBe('SubnetNotFound');
    });

    it('hides another project\'s port, network and group (404)', async () => {
      const { net } = await networkWithSubnet('10.0.5.0/24');
      const port = await any(0).ports.create(project, { port: { network_id: net } });
      const stranger = { projectId: 'stranger', isAdmin: false };
      expect(await outcome(any(0).ports.show(stranger, port.id as string, {}))).toBe('PortNotFound');
      expect(await outcome(any(0).networks.show(stranger, net, {}))).toBe('NetworkNotFound');
      expect(await outcome(any(0).groups.show(stranger, (port.security_groups as string[])[0], {}))).toBe('SecurityGroupNotFound');
      expect(await outcome(any(0).ports.create(stranger, { port: { network_id: net } }))).toBe('NetworkNotFound');
      expect((await any(0).networks.list(stranger, {})).map((n) => n.id)).not.toContain(net);
      expect((await any(0).networks.list(admin, { id: net })).map((n) => n.id)).toEqual([net]);
    });
  });

  describe('security groups', () => {
    it('creates one default group with Neutron\'s four rules under 12 parallel first uses', async () => {
      await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? any(i).groups.list(project, {}) : any(i).rules.list(project, {}))));
      const groups = await any(0).groups.list(project, {});
      expect(groups.map((g) => g.name)).toEqual(['default']);
      const rules = groups[0].security_group_rules as Array<Record<string, unknown>>;
      const summary = rules.map((r) => `${r.direction} ${r.ethertype} ${r.remote_group_id === groups[0].id ? 'self' : String(r.remote_group_id)} ${r.remote_ip_prefix}`).sort();
      expect(summary).toEqual(['egress IPv4 null null', 'egress IPv6 null null', 'ingress IPv4 self null', 'ingress IPv6 self null']);
    });

    it('refuses a duplicate rule naming the existing one', async () => {
      const group = await any(0).groups.create(project, { security_group: { name: 'g' } });
      const body = { security_group_rule: { security_group_id: group.id, direction: 'ingress', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0' } };
      const rule = await any(0).rules.create(project, body);
      await expect(any(1).rules.create(project, body)).rejects.toMatchObject({ details: { type: 'SecurityGroupRuleExists', ruleId: rule.id } });
      // Egress anywhere exists from creation: "0.0.0.0/0" is the same rule.
      const egress = { security_group_rule: { security_group_id: group.id, direction: 'egress', ethertype: 'IPv4', remote_ip_prefix: '0.0.0.0/0' } };
      expect(await outcome(any(0).rules.create(project, egress))).toBe('SecurityGroupRuleExists');
    });

    it('answers OverQuota past 10 groups, the default one included', async () => {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => outcome(any(i).groups.create(project, { security_group: { name: `g${i}` } }))));
      expect(results.filter((r) => r === 'ok')).toHaveLength(9);
      expect(results.filter((r) => r === 'OverQuota')).toHaveLength(3);
    });
  });

  describe('networks', () => {
    it('allocates distinct VNIs to parallel networks and frees them on delete', async () => {
      const owners = Array.from({ length: 12 }, (_, i) => ({ projectId: `${project.projectId}-${i}`, isAdmin: false }));
      const nets = await Promise.all(owners.map((p, i) => any(i).networks.create(p, { network: { name: `n${i}` } })));
      const shown = await Promise.all(nets.map((n) => any(0).networks.show(admin, n.id as string, {})));
      const vnis = shown.map((n) => n['provider:segmentation_id'] as number);
      expect(new Set(vnis).size).toBe(12);
      expect(vnis.every((v) => v >= 1000 && v <= 1999)).toBe(true);
      expect(nets[0]).not.toHaveProperty('provider:segmentation_id');
      expect(shown[0]).toMatchObject({ 'provider:network_type': 'vxlan', mtu: 1450, status: 'ACTIVE', port_security_enabled: true });
      const lowest = Math.min(...vnis);
      const owner = shown.find((n) => n['provider:segmentation_id'] === lowest)!;
      await any(0).networks.delete(admin, owner.id as string);
      const next = await any(1).networks.create(admin, { network: { name: 'reuse' } });
      expect((await any(0).networks.show(admin, next.id as string, {}))['provider:segmentation_id']).toBe(lowest);
      await Promise.all([...nets.filter((n) => n.id !== owner.id).map((n) => any(0).networks.delete(admin, n.id as string)), any(0).networks.delete(admin, next.id as string)]);
    });

    it('answers NoNetworkAvailable when the range runs out, and TunnelIdInUse for a taken VNI', async () => {
      const small = instance(sources[0], { first: 7000, last: 7002 });
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(small.networks.create({ ...project, projectId: `${project.projectId}-${i}` }, { network: {} }))));
      expect(results.filter((r) => r === 'ok')).toHaveLength(3);
      expect(results.filter((r) => r === 'NoNetworkAvailable')).toHaveLength(2);
      expect(await outcome(small.networks.create(admin, { network: { 'provider:segmentation_id': 7001 } }))).toBe('TunnelIdInUse');
      await sources[0].query(`DELETE FROM network.networks WHERE segmentation_id BETWEEN 7000 AND 7002`);
    });

    it('refuses overlapping subnets created in parallel on one network', async () => {
      const net = await any(0).networks.create(project, { network: {} });
      const results = await Promise.all(
        ['10.9.0.0/16', '10.9.1.0/24', '10.9.2.0/24'].map((cidr, i) => outcome(any(i).subnets.create(project, { subnet: { network_id: net.id, ip_version: 4, cidr } }))),
      );
      expect(results.filter((r) => r === 'ok').length).toBeGreaterThanOrEqual(1);
      const cidrs = (await any(0).subnets.list(project, { network_id: net.id as string })).map((s) => parseCidr(s.cidr));
      expect(cidrs).toHaveLength(results.filter((r) => r === 'ok').length);
      cidrs.forEach((a, i) => cidrs.slice(i + 1).forEach((b) => expect(cidrsOverlap(a, b)).toBe(false)));
      expect(results.filter((r) => r !== 'ok').every((r) => r === 'BadRequest')).toBe(true);
    });
  });
});
