/**
 * Network models with real guests (TCG test guest) on one VXLAN network over two hosts:
 *   host-only  a DHCP subnet and no router: the guests take leases and ping each other, and reach
 *              nothing beyond the subnet (its gateway address is held by nobody);
 *   isolated   a subnet with enable_dhcp=false: no lease (the network node serves no DHCP for it),
 *              each guest is given its port's fixed address by hand on its serial console and
 *              they ping each other; a guest that takes an address not its own gets nothing
 *              through (port security), and gets through once it takes its own.
 * Everything made is deleted, then nothing of it may remain on the hosts (network-leaks.ts).
 */
import { OpenStackClient } from '@nubo/client';
import { execFileSync } from 'node:child_process';
import { adminClient } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { GUEST_READY, consoleOutput, guestSucceeds, testImageId, waitForConsole } from '../support/guest';
import { NetworkIdRecorder } from '../support/network-leaks';

jest.setTimeout(900_000);
const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';
const N = '/network/v2.0';

interface Guest {
  id: string;
  host: string;
  /** Its port's fixed address. */
  ip: string;
}

(isRoot ? describe : describe.skip)('network models between real guests', () => {
  let admin: OpenStackClient;
  let image: string;
  let hosts: string[];
  const tag = Date.now().toString(36);
  const ids = new NetworkIdRecorder();
  const cleanup = { servers: [] as string[], networks: [] as string[] };

  beforeAll(async () => {
    admin = await adminClient();
    image = await testImageId(admin);
    hosts = (await admin.hosts()).filter((h: { state: string }) => h.state === 'up').map((h: { id: string }) => h.id).sort();
  });

  afterAll(async () => {
    for (const id of cleanup.servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of cleanup.servers) await admin.waitForGone(id, 180_000).catch(() => undefined);
    for (const id of cleanup.networks) await admin.request('DELETE', `${N}/networks/${id}`);
    await ids.expectNoLeaks();
  });

  const network = async (cidr: string, subnet: Record<string, unknown> = {}) => {
    const { network: n } = await admin.call('POST', `${N}/networks`, 201, { network: { name: `model-${tag}` } });
    cleanup.networks.push(ids.network(n.id));
    await admin.call('POST', `${N}/subnets`, 201, { subnet: { network_id: n.id, ip_version: 4, cidr, ...subnet } });
    return n.id as string;
  };
  /** A server on `networkId` forced onto `host`, once its console shell runs; `ip` is its port's. */
  const boot = async (name: string, networkId: string, host: string): Promise<Guest> => {
    const { server } = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name: `${name}-${tag}`, flavorRef: M1_TINY, imageRef: image, networks: [{ uuid: networkId }], availability_zone: `nova:${host}` },
    });
    cleanup.servers.push(server.id);
    await waitForConsole(admin, server.id, GUEST_READY);
    const [port] = await ids.portsOf(admin, server.id);
    return { id: server.id, host, ip: port.fixed_ips[0].ip_address };
  };
  const dhcpNamespace = (networkId: string) => `${E2E.NUBO_CLOUD_NAME}-qdhcp-${networkId.replace(/-/g, '').slice(0, 12)}`;
  const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]);

  /** Runs a shell line on a guest's console: whether it succeeded. */
  const run = (g: Guest, line: string) => guestSucceeds(admin, g.host, g.id, line);
  const pings = (from: Guest, to: string) => run(from, `ping -c 3 -W 2 ${to} >/dev/null 2>&1`);

  it('host-only: DHCP leases and pings between hosts, nothing beyond the subnet', async () => {
    const net = await network('10.61.0.0/24');
    const [a, b] = await Promise.all([boot('ho-a', net, hosts[0]), boot('ho-b', net, hosts[1])]);
    for (const g of [a, b]) expect(await consoleOutput(admin, g.id)).toContain(`NUBO-GUEST: address ${g.ip}/24`);
    expect(namespaces()).toContain(dhcpNamespace(net));
    expect(await pings(a, b.ip)).toBe(true);
    expect(await pings(b, a.ip)).toBe(true);

    // The gateway address is no port's: no router holds it.
    const { ports } = await admin.call('GET', `${N}/ports?network_id=${net}`, 200);
    expect(ports.flatMap((p: any) => p.fixed_ips.map((f: any) => f.ip_address))).not.toContain('10.61.0.1');
    // A default route, if DHCP gave one, goes only through that gateway; nothing beyond the subnet answers.
    expect(await run(a, `test -z "$(ip route | grep '^default' | grep -v 'via 10.61.0.1 ')"`)).toBe(true);
    expect(await pings(a, '10.61.0.1')).toBe(false);
    for (const outside of ['10.77.0.2', '10.77.0.11', '192.0.2.1']) expect(await pings(a, outside)).toBe(false);
    // Still on the subnet after those failures: the check above did not fail for a dead guest.
    expect(await pings(a, b.ip)).toBe(true);

    // Done with them: fewer TCG guests for the next case.
    for (const g of [a, b]) await admin.call('DELETE', `/compute/v2.1/servers/${g.id}`, 204);
    for (const g of [a, b]) await admin.waitForGone(g.id, 180_000);
  });

  it('isolated: no DHCP; fixed addresses given by hand ping each other, a foreign address gets nothing through', async () => {
    const net = await network('10.62.0.0/24', { enable_dhcp: false });
    const [a, b, c] = await Promise.all([boot('iso-a', net, hosts[0]), boot('iso-b', net, hosts[1]), boot('iso-c', net, hosts[1])]);
    expect(namespaces()).not.toContain(dhcpNamespace(net));
    for (const g of [a, b, c]) {
      const log = await waitForConsole(admin, g.id, 'NUBO-GUEST: no address');
      expect(log).not.toContain('NUBO-GUEST: address');
      // udhcpc keeps asking in the background: stopped, so that nothing but us sets the address.
      expect(await run(g, 'kill $(cat /run/udhcpc.eth0.pid)')).toBe(true);
    }
    for (const g of [a, b]) expect(await run(g, `ip addr add ${g.ip}/24 dev eth0`)).toBe(true);
    expect(await pings(a, b.ip)).toBe(true);
    expect(await pings(b, a.ip)).toBe(true);

    // c takes an address that is not its port's (and nobody's): anti-spoofing drops it.
    const foreign = '10.62.0.200';
    expect([a.ip, b.ip, c.ip]).not.toContain(foreign);
    expect(await run(c, `ip addr add ${foreign}/24 dev eth0`)).toBe(true);
    expect(await pings(c, a.ip)).toBe(false);
    expect(await pings(c, b.ip)).toBe(false);
    // Its own address gets through: the drop above was port security, not a dead guest.
    expect(await run(c, `ip addr flush dev eth0 && ip addr add ${c.ip}/24 dev eth0`)).toBe(true);
    expect(await pings(c, a.ip)).toBe(true);
  });
});
