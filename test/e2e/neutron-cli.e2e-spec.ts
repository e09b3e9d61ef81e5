/**
 * Neutron's core API (networks, subnets, ports, security groups) driven by the stock `openstack`
 * CLI, unmodified, as the demo user with nothing but its openrc file; then the error cases over
 * HTTP, checked for Neutron's status and NeutronError type.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
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

describe('Neutron through the openstack CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-neutron-'));
  const demoEnv = openrcEnv(join(E2E.NUBO_STATE_DIR, 'openrc-demo'));
  const suffix = Date.now().toString(36);
  const cleanups: Array<() => Promise<unknown>> = [];
  const ids = new NetworkIdRecorder();
  let admin: OpenStackClient;
  let demo: OpenStackClient;

  async function osc(...args: string[]): Promise<any> {
    const { stdout } = await run('openstack', [...args, '-f', 'json'], { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 120_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }
  async function oscQuiet(...args: string[]): Promise<void> {
    await run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 120_000 });
  }
  /** A Neutron error: status and NeutronError body. */
  async function expectError(client: OpenStackClient, method: string, path: string, body: unknown, status: number, type: string, message?: RegExp) {
    const reply = await client.request(method, `${N}${path}`, { body });
    expect({ status: reply.status, type: reply.body?.NeutronError?.type }).toEqual({ status, type });
    expect(reply.body.NeutronError.detail).toBe('');
    if (message) expect(reply.body.NeutronError.message).toMatch(message);
    return reply.body.NeutronError;
  }

  beforeAll(async () => {
    admin = await adminClient();
    demo = await demoClient();
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await ids.expectNoLeaks();
  });

  describe('the CLI', () => {
    const net = `net-${suffix}`;
    const sub = `sub-${suffix}`;
    let netId: string;
    let subnetId: string;
    let portId: string;

    afterAll(async () => {
      await demo.request('DELETE', `${N}/ports/${portId}`);
      await demo.request('DELETE', `${N}/networks/${netId}`);
    });

    it('creates, lists, shows and renames a network', async () => {
      const created = await osc('network', 'create', net);
      netId = ids.network(created.id);
      expect(created).toMatchObject({ name: net, status: 'ACTIVE', mtu: 1450, shared: false, port_security_enabled: true });
      expect(created).not.toHaveProperty('provider:segmentation_id', expect.anything());
      expect((await osc('network', 'list')).map((n: { Name: string }) => n.Name)).toContain(net);
      expect((await osc('network', 'show', net)).id).toBe(netId);
      await oscQuiet('network', 'set', '--name', `${net}-2`, net);
      expect((await osc('network', 'show', netId)).name).toBe(`${net}-2`);
      await oscQuiet('network', 'set', '--name', net, netId);
      // The admin sees the VXLAN id allocated from the configured range.
      const seen = (await admin.call('GET', `${N}/networks/${netId}`, 200)).network;
      expect(seen['provider:network_type']).toBe('vxlan');
      expect(seen['provider:segmentation_id']).toBeGreaterThanOrEqual(1000);
      expect(seen['provider:segmentation_id']).toBeLessThanOrEqual(1999);
    });

    it('creates, lists and shows a subnet with pools, DNS and no DHCP', async () => {
      const created = await osc('subnet', 'create', sub, '--network', net, '--subnet-range', '10.77.0.0/24',
        '--allocation-pool', 'start=10.77.0.10,end=10.77.0.20', '--dns-nameserver', '8.8.8.8', '--no-dhcp');
      subnetId = created.id;
      expect(created).toMatchObject({ name: sub, cidr: '10.77.0.0/24', gateway_ip: '10.77.0.1', enable_dhcp: false, ip_version: 4, network_id: netId });
      expect(JSON.stringify(created.allocation_pools)).toContain('10.77.0.10');
      expect(JSON.stringify(created.dns_nameservers)).toContain('8.8.8.8');
      expect((await osc('subnet', 'list')).map((s: { ID: string }) => s.ID)).toContain(subnetId);
      expect((await osc('subnet', 'show', sub)).cidr).toBe('10.77.0.0/24');
      expect(JSON.stringify((await osc('network', 'show', net)).subnets)).toContain(subnetId);
    });

    it('creates ports with a requested address and the first free one, lists, shows and deletes them', async () => {
      const fixed = await osc('port', 'create', '--network', net, '--fixed-ip', `subnet=${sub},ip-address=10.77.0.15`, `port-${suffix}`);
      portId = ids.port(fixed.id);
      expect(JSON.stringify(fixed.fixed_ips)).toContain('10.77.0.15');
      expect(fixed.mac_address).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
      expect(fixed.status).toBe('DOWN');
      const [defaultGroup] = (await demo.call('GET', `${N}/security-groups?name=default`, 200)).security_groups;
      expect(JSON.stringify(fixed.security_group_ids)).toContain(defaultGroup.id);
      const next = await osc('port', 'create', '--network', net, `port2-${suffix}`);
      ids.port(next.id);
      expect(JSON.stringify(next.fixed_ips)).toContain('10.77.0.10');
      expect((await osc('port', 'list')).map((p: { ID: string }) => p.ID)).toEqual(expect.arrayContaining([portId, next.id]));
      expect((await osc('port', 'show', portId)).network_id).toBe(netId);
      await oscQuiet('port', 'delete', next.id);
      expect((await demo.request('GET', `${N}/ports/${next.id}`)).status).toBe(404);
    });

    it('creates a security group with an SSH rule, lists and shows them, deletes them', async () => {
      const group = await osc('security', 'group', 'create', `sg-${suffix}`);
      expect(group.name).toBe(`sg-${suffix}`);
      const rule = await osc('security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '22', group.id);
      expect(rule).toMatchObject({ protocol: 'tcp', port_range_min: 22, port_range_max: 22, direction: 'ingress', ether_type: 'IPv4', remote_ip_prefix: '0.0.0.0/0' });
      const rules = await osc('security', 'group', 'rule', 'list', group.id);
      expect(rules.map((r: { ID: string }) => r.ID)).toContain(rule.id);
      expect(rules).toHaveLength(3); // the SSH rule and the two egress rules every new group gets
      const names = (await osc('security', 'group', 'list')).map((g: { Name: string }) => g.Name);
      expect(names).toEqual(expect.arrayContaining(['default', `sg-${suffix}`]));
      expect(JSON.stringify((await osc('security', 'group', 'show', `sg-${suffix}`)).rules)).toContain(rule.id);
      await oscQuiet('security', 'group', 'rule', 'delete', rule.id);
      expect((await osc('security', 'group', 'rule', 'list', group.id)).map((r: { ID: string }) => r.ID)).not.toContain(rule.id);
      await oscQuiet('security', 'group', 'delete', group.id);
      expect((await demo.request('GET', `${N}/security-groups/${group.id}`)).status).toBe(404);
    });

    it('deletes port, subnet and network', async () => {
      await oscQuiet('port', 'delete', portId);
      await oscQuiet('subnet', 'delete', sub);
      await oscQuiet('network', 'delete', net);
      expect((await demo.request('GET', `${N}/networks/${netId}`)).status).toBe(404);
      expect((await demo.request('GET', `${N}/subnets/${subnetId}`)).status).toBe(404);
    });
  });

  describe('errors over HTTP', () => {
    let netId: string;
    let subnetId: string;
    let portId: string;

    beforeAll(async () => {
      netId = ids.network((await demo.call('POST', `${N}/networks`, 201, { network: { name: `err-${suffix}` } })).network.id);
      cleanups.push(() => demo.request('DELETE', `${N}/networks/${netId}`));
      subnetId = (await demo.call('POST', `${N}/subnets`, 201, {
        subnet: { network_id: netId, ip_version: 4, cidr: '10.78.0.0/24', allocation_pools: [{ start: '10.78.0.5', end: '10.78.0.6' }] },
      })).subnet.id;
      const port = (await demo.call('POST', `${N}/ports`, 201, { port: { network_id: netId, fixed_ips: [{ subnet_id: subnetId, ip_address: '10.78.0.5' }] } })).port;
      portId = ids.port(port.id);
      cleanups.push(() => demo.request('DELETE', `${N}/ports/${portId}`));
    });

    it('answers 400 naming the field for bad subnets, and creates nothing', async () => {
      const before = (await demo.call('GET', `${N}/subnets`, 200)).subnets.length;
      await expectError(demo, 'POST', '/subnets', { subnet: { network_id: netId, ip_version: 6, cidr: 'fd00::/64' } }, 400, 'HTTPBadRequest', /ip_version.*IPv6/);
      await expectError(demo, 'POST', '/subnets', { subnet: { network_id: netId, ip_version: 4, cidr: '10.79.0.1/24' } }, 400, 'HTTPBadRequest', /cidr.*'10.79.0.0\/24' is recommended/);
      await expectError(demo, 'POST', '/subnets', { subnet: { network_id: netId, ip_version: 4, cidr: '10.78.0.128/25' } }, 400, 'BadRequest', /overlaps with another subnet/);
      await expectError(demo, 'POST', '/subnets', { subnet: { network_id: netId, ip_version: 4, cidr: '10.80.0.0/24', allocation_pools: [{ start: '10.80.1.1', end: '10.80.1.9' }] } },
        400, 'BadRequest', /spans beyond the subnet cidr/);
      await expectError(demo, 'POST', '/networks', { network: { name: 'x', colour: 'red' } }, 400, 'BadRequest', /Unrecognized attribute\(s\) 'colour'/);
      expect((await demo.call('GET', `${N}/subnets`, 200)).subnets.length).toBe(before);
    });

    it('answers 409 for taken addresses, a full pool, and resources in use', async () => {
      await expectError(demo, 'POST', '/ports', { port: { network_id: netId, fixed_ips: [{ ip_address: '10.78.0.5' }] } }, 409, 'IpAddressAlreadyAllocated', /10.78.0.5 already allocated/);
      await expectError(demo, 'POST', '/ports', { port: { network_id: netId, fixed_ips: [{ subnet_id: subnetId, ip_address: '10.99.0.5' }] } }, 400, 'BadRequest', /not a valid IP for the specified subnet/);
      const last = (await demo.call('POST', `${N}/ports`, 201, { port: { network_id: netId } })).port;
      ids.port(last.id);
      cleanups.push(() => demo.request('DELETE', `${N}/ports/${last.id}`));
      expect(last.fixed_ips).toEqual([{ subnet_id: subnetId, ip_address: '10.78.0.6' }]);
      await expectError(demo, 'POST', '/ports', { port: { network_id: netId } }, 409, 'IpAddressGenerationFailure', /No more IP addresses available/);
      await expectError(demo, 'DELETE', `/networks/${netId}`, undefined, 409, 'NetworkInUse', /still in use/);
      await expectError(demo, 'DELETE', `/subnets/${subnetId}`, undefined, 409, 'SubnetInUse');
    });

    it('keeps the default group and groups in use, refuses duplicate and contradictory rules', async () => {
      const [defaultGroup] = (await demo.call('GET', `${N}/security-groups?name=default&fields=id&fields=name`, 200)).security_groups;
      expect(Object.keys(defaultGroup).sort()).toEqual(['id', 'name']);
      await expectError(demo, 'DELETE', `/security-groups/${defaultGroup.id}`, undefined, 409, 'SecurityGroupCannotRemoveDefault');
      const group = (await demo.call('POST', `${N}/security-groups`, 201, { security_group: { name: `inuse-${suffix}` } })).security_group;
      cleanups.push(() => demo.request('DELETE', `${N}/security-groups/${group.id}`));
      await demo.call('PUT', `${N}/ports/${portId}`, 200, { port: { security_groups: [group.id] } });
      await expectError(demo, 'DELETE', `/security-groups/${group.id}`, undefined, 409, 'SecurityGroupInUse');
      const rule = { security_group_id: group.id, direction: 'ingress', protocol: 'tcp', port_range_min: 80, port_range_max: 80 };
      const created = (await demo.call('POST', `${N}/security-group-rules`, 201, { security_group_rule: rule })).security_group_rule;
      await expectError(demo, 'POST', '/security-group-rules', { security_group_rule: rule }, 409, 'SecurityGroupRuleExists', new RegExp(created.id));
      await expectError(demo, 'POST', '/security-group-rules', { security_group_rule: { ...rule, port_range_min: 90 } }, 400, 'BadRequest', /port_range_min must be <= port_range_max/);
      await expectError(demo, 'POST', '/security-group-rules', { security_group_rule: { ...rule, remote_ip_prefix: '10.0.0.0/8', remote_group_id: group.id } },
        400, 'BadRequest', /Only remote_ip_prefix or remote_group_id/);
      await demo.call('PUT', `${N}/ports/${portId}`, 200, { port: { security_groups: [] } });
    });

    it('hides other projects\' resources (404) and keeps provider and shared attributes for admins (403)', async () => {
      const adminNet = (await admin.call('POST', `${N}/networks`, 201, { network: { name: `adm-${suffix}` } })).network;
      ids.network(adminNet.id);
      cleanups.push(() => admin.request('DELETE', `${N}/networks/${adminNet.id}`));
      await expectError(demo, 'GET', `/networks/${adminNet.id}`, undefined, 404, 'NetworkNotFound');
      await expectError(demo, 'DELETE', `/networks/${adminNet.id}`, undefined, 404, 'NetworkNotFound');
      expect((await demo.call('GET', `${N}/networks?id=${adminNet.id}`, 200)).networks).toEqual([]);
      expect((await admin.call('GET', `${N}/ports/${portId}`, 200)).port.id).toBe(portId);
      await expectError(demo, 'POST', '/networks', { network: { shared: true } }, 403, 'HTTPForbidden');
      await expectError(demo, 'POST', '/networks', { network: { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' } }, 403, 'HTTPForbidden');
      await expectError(admin, 'POST', '/networks', { network: { 'provider:network_type': 'vlan' } }, 400, 'HTTPBadRequest', /physical_network/);
      const shared = (await admin.call('POST', `${N}/networks`, 201, { network: { name: `shared-${suffix}`, shared: true } })).network;
      ids.network(shared.id);
      cleanups.push(() => admin.request('DELETE', `${N}/networks/${shared.id}`));
      expect((await demo.call('GET', `${N}/networks?shared=true`, 200)).networks.map((n: { id: string }) => n.id)).toContain(shared.id);
      await expectError(demo, 'GET', '/extensions/tag-ports-during-bulk-creation', undefined, 404, 'ExtensionNotFound');
    });

    it('answers 409 OverQuota past 10 security groups', async () => {
      const made: string[] = [];
      try {
        let last: { status: number; body: any } | undefined;
        for (let i = 0; i < 11; i++) {
          last = await demo.request('POST', `${N}/security-groups`, { body: { security_group: { name: `q-${suffix}-${i}` } } });
          if (last.status !== 201) break;
          made.push(last.body.security_group.id);
        }
        expect(last!.status).toBe(409);
        expect(last!.body).toEqual({ NeutronError: { type: 'OverQuota', message: "Quota exceeded for resources: ['security_group'].", detail: '' } });
        const count = (await demo.call('GET', `${N}/security-groups`, 200)).security_groups.length;
        expect(count).toBe(10);
      } finally {
        await Promise.all(made.map((id) => demo.request('DELETE', `${N}/security-groups/${id}`)));
      }
    });
  });
});
