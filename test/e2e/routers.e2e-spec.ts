/**
 * Routers with real packets (TCG test guest): a server on a tenant VXLAN network behind a Neutron
 * router reaches the `ext` namespace (the all-in-one cloud's internet) and ext sees the router's
 * external address, never the server's own (SNAT); ext reaches the server through a floating IP,
 * and after disassociation it no longer does. What ext sees is counted by nftables in ext itself.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { adminClient, eventually } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { guestSucceeds, testImageId, waitForConsole } from '../support/guest';
import { NetworkIdRecorder } from '../support/network-leaks';

jest.setTimeout(900_000);
const isRoot = process.getuid?.() === 0;
const run = promisify(execFile);
const M1_TINY = '1';
const N = '/network/v2.0';
/** deploy/cloud.sh: physical network `ext` ends in this namespace at EXT_GATEWAY. */
const EXT_NS = `${E2E.NUBO_CLOUD_NAME}-ext`;
const EXT_GATEWAY = '203.0.113.1';
const COUNTERS = 'nubo_e2e_seen';

(isRoot ? describe : describe.skip)('routers: SNAT and floating IPs between a real guest and ext', () => {
  let admin: OpenStackClient;
  const tag = Date.now().toString(36);
  const made = { server: '', fip: '', router: '', subnet: '', network: '', extNetwork: '', group: '' };
  const ids = new NetworkIdRecorder();
  let server: { id: string; host: string; ip: string; portId: string };
  let routerIp: string;

  /** Counts ICMP echo requests reaching ext from the router's address and from the server's own. */
  const installCounters = (routerAddress: string, serverAddress: string) => {
    const ruleset = `table inet ${COUNTERS} {
  counter from_router {}
  counter from_server {}
  chain input { type filter hook input priority 0; policy accept;
    ip saddr ${routerAddress} icmp type echo-request counter name from_router
    ip saddr ${serverAddress} icmp type echo-request counter name from_server
  }
}`;
    execFileSync('ip', ['netns', 'exec', EXT_NS, 'nft', '-f', '-'], { input: ruleset });
  };
  const counter = (name: string): number => {
    const out = JSON.parse(execFileSync('ip', ['netns', 'exec', EXT_NS, 'nft', '-j', 'list', 'counter', 'inet', COUNTERS, name], { encoding: 'utf8' }));
    return out.nftables.find((x: any) => x.counter)?.counter.packets ?? 0;
  };
  /** ext pings an address: true when a reply came, false when none did (ping's exit 1); anything else throws. */
  const extPings = async (address: string): Promise<boolean> =>
    run('ip', ['netns', 'exec', EXT_NS, 'ping', '-n', '-c', '2', '-W', '2', address]).then(
      () => true,
      (error: { code?: unknown }) => {
        if (error.code === 1) return false;
        throw error;
      },
    );
  /** Runs a shell line on the guest's console: whether it succeeded. */
  const guestRuns = (line: string) => guestSucceeds(admin, server.host, server.id, line);

  beforeAll(async () => {
    admin = await adminClient();
    const image = await testImageId(admin);
    const [host] = (await admin.hosts()).filter((h: { state: string }) => h.state === 'up').map((h: { id: string }) => h.id).sort();
    made.extNetwork = ids.network(
      (
        await admin.call('POST', `${N}/networks`, 201, {
          network: { name: `public-${tag}`, 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': 'ext' },
        })
      ).network.id,
    );
    await admin.call('POST', `${N}/subnets`, 201, {
      subnet: { network_id: made.extNetwork, ip_version: 4, cidr: '203.0.113.0/24', gateway_ip: EXT_GATEWAY, enable_dhcp: false, allocation_pools: [{ start: '203.0.113.10', end: '203.0.113.200' }] },
    });
    made.network = ids.network((await admin.call('POST', `${N}/networks`, 201, { network: { name: `inside-${tag}` } })).network.id);
    made.subnet = (await admin.call('POST', `${N}/subnets`, 201, { subnet: { network_id: made.network, ip_version: 4, cidr: '10.72.0.0/24' } })).subnet.id;
    const { router } = await admin.call('POST', `${N}/routers`, 201, { router: { name: `r-${tag}`, external_gateway_info: { network_id: made.extNetwork } } });
    made.router = ids.router(router.id);
    routerIp = router.external_gateway_info.external_fixed_ips[0].ip_address;
    await admin.call('PUT', `${N}/routers/${router.id}/add_router_interface`, 200, { subnet_id: made.subnet });
    await ids.portsOf(admin, router.id);
    // Echo requests in from anywhere (ext through the floating IP); everything out, as in the default group.
    made.group = (await admin.call('POST', `${N}/security-groups`, 201, { security_group: { name: `pingable-${tag}` } })).security_group.id;
    await admin.call('POST', `${N}/security-group-rules`, 201, {
      security_group_rule: { security_group_id: made.group, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0' },
    });
    const { port } = await admin.call('POST', `${N}/ports`, 201, { port: { network_id: made.network, security_groups: [made.group] } });
    ids.port(port.id, port.mac_address);
    const { server: s } = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name: `behind-${tag}`, flavorRef: M1_TINY, imageRef: image, networks: [{ port: port.id }], availability_zone: `nova:${host}` },
    });
    made.server = s.id;
    const log = await waitForConsole(admin, s.id, 'NUBO-GUEST: ready');
    server = { id: s.id, host, ip: /NUBO-GUEST: address (\d+\.\d+\.\d+\.\d+)\//.exec(log)![1], portId: port.id };
    installCounters(routerIp, server.ip);
  });

  afterAll(async () => {
    execFileSync('ip', ['netns', 'exec', EXT_NS, 'nft', 'delete', 'table', 'inet', COUNTERS], { stdio: 'ignore' });
    if (made.fip) await admin.request('DELETE', `${N}/floatingips/${made.fip}`);
    if (made.server) {
      await admin.request('DELETE', `/compute/v2.1/servers/${made.server}`);
      await admin.waitForGone(made.server).catch(() => undefined);
    }
    if (server?.portId) await admin.request('DELETE', `${N}/ports/${server.portId}`);
    if (made.router) {
      await admin.request('PUT', `${N}/routers/${made.router}/remove_router_interface`, { body: { subnet_id: made.subnet } });
      await admin.request('DELETE', `${N}/routers/${made.router}`);
    }
    for (const id of [made.network, made.extNetwork]) if (id) await admin.request('DELETE', `${N}/networks/${id}`);
    if (made.group) await admin.request('DELETE', `${N}/security-groups/${made.group}`);
    await ids.expectNoLeaks();
  });

  it("reaches ext from behind the router, and ext sees the router's address (SNAT)", async () => {
    expect(server.ip).toMatch(/^10\.72\.0\./);
    expect(await guestRuns(`ping -c 3 -W 2 ${EXT_GATEWAY} >/dev/null 2>&1`)).toBe(true);
    expect(counter('from_router')).toBeGreaterThanOrEqual(1);
    expect(counter('from_server')).toBe(0);
  });

  it('lets ext reach the server through its floating IP, and no longer once it is disassociated', async () => {
    const { floatingip } = await admin.call('POST', `${N}/floatingips`, 201, { floatingip: { floating_network_id: made.extNetwork, port_id: server.portId } });
    made.fip = floatingip.id;
    expect(floatingip.fixed_ip_address).toBe(server.ip);
    // The L3 data plane follows the API asynchronously (router sync on every change).
    await eventually(`ext pings ${floatingip.floating_ip_address}`, () => extPings(floatingip.floating_ip_address), 30_000);
    // ext still never saw the server's own address.
    expect(counter('from_server')).toBe(0);

    await admin.call('PUT', `${N}/floatingips/${made.fip}`, 200, { floatingip: { port_id: null } });
    await eventually(`ext no longer reaches ${floatingip.floating_ip_address}`, async () => !(await extPings(floatingip.floating_ip_address)), 30_000);
    // It stays unreachable (not a lost packet): a second try fails too.
    expect(await extPings(floatingip.floating_ip_address)).toBe(false);
  });

  it('removes the router namespace when the router goes', async () => {
    await admin.call('DELETE', `${N}/floatingips/${made.fip}`, 204);
    made.fip = '';
    await admin.call('PUT', `${N}/routers/${made.router}/remove_router_interface`, 200, { subnet_id: made.subnet });
    await admin.call('PUT', `${N}/routers/${made.router}`, 200, { router: { external_gateway_info: {} } });
    await admin.call('DELETE', `${N}/routers/${made.router}`, 204);
    const routerId = made.router;
    made.router = '';
    await eventually(`no namespace of router ${routerId}`, async () => {
      const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      return !names.includes(routerId) || undefined;
    }, 60_000);
  });
});
