/**
 * Tenant networks with real guests (TCG test guest): two servers of one project on one VXLAN
 * network, forced onto two different hosts, take their addresses by DHCP from the network node
 * and ping each other across the overlay; a third server on another network with the same CIDR
 * on the same hosts, in another project, reaches neither, and a capture on its TAP sees none of
 * their frames while a capture on their own TAP on that host does. After deletion no tap, bridge,
 * VXLAN device or DHCP namespace of theirs is left on any host (network-leaks.ts).
 */
import { OpenStackClient } from '@nubo/client';
import { tapName } from '@nubo/netlinks';
import { execFileSync } from 'node:child_process';
import { adminClient, eventually } from '../support/cloud';
import { guestAddress, guestSucceeds, testImageId, waitForConsole } from '../support/guest';
import { NetworkIdRecorder } from '../support/network-leaks';
import { TapCapture, framesMentioning, icmpBetween, startCapture } from '../support/tap-capture';
import { Tenant, createTenant, deleteTenant } from '../support/tenants';

jest.setTimeout(900_000);
const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';

(isRoot ? describe : describe.skip)('tenant networks: DHCP and VXLAN between real guests', () => {
  let admin: OpenStackClient;
  let image: string;
  const servers: Array<{ id: string; api: OpenStackClient }> = [];
  const networks: Array<{ id: string; api: OpenStackClient }> = [];
  const tag = Date.now().toString(36);
  const ids = new NetworkIdRecorder();
  let projectB: Tenant | undefined;
  /** An availability zone holding hosts[1] alone, so that project B (which cannot force hosts) boots there. */
  const zone = { name: `tn-${tag}`, aggregate: 0, host: '' };

  beforeAll(async () => {
    admin = await adminClient();
    image = await testImageId(admin);
  });

  afterAll(async () => {
    for (const s of servers) await s.api.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    for (const s of servers) await s.api.waitForGone(s.id).catch(() => undefined);
    for (const n of networks) await n.api.request('DELETE', `/network/v2.0/networks/${n.id}`);
    if (projectB) await deleteTenant(admin, projectB);
    if (zone.host) await admin.request('POST', `/compute/v2.1/os-aggregates/${zone.aggregate}/action`, { body: { remove_host: { host: zone.host } } });
    if (zone.aggregate) await admin.request('DELETE', `/compute/v2.1/os-aggregates/${zone.aggregate}`);
    await ids.expectNoLeaks();
  });

  const network = async (api: OpenStackClient, cidr: string, pools?: Array<{ start: string; end: string }>) => {
    const { network: n } = await api.call('POST', '/network/v2.0/networks', 201, { network: { name: `lan-${tag}` } });
    networks.push({ id: ids.network(n.id), api });
    const subnet = { network_id: n.id, ip_version: 4, cidr, name: `sub-${tag}`, ...(pools ? { allocation_pools: pools } : {}) };
    await api.call('POST', '/network/v2.0/subnets', 201, { subnet });
    return n.id as string;
  };
  /** A server of `api`'s project on `networkId` in availability zone `az` (`<zone>:<host>` forces a host: admins only). */
  const serverOf = async (api: OpenStackClient, name: string, networkId: string, az: string) => {
    const body = { server: { name: `${name}-${tag}`, flavorRef: M1_TINY, imageRef: image, networks: [{ uuid: networkId }], availability_zone: az } };
    const { server: s } = await api.call('POST', '/compute/v2.1/servers', 202, body);
    servers.push({ id: s.id, api });
    return s.id as string;
  };
  /** Puts `host` alone in zone.name; Nova refuses it once the host holds servers, so before any boots. */
  const zoneOf = async (host: string) => {
    const { aggregate } = await admin.call('POST', '/compute/v2.1/os-aggregates', 200, { aggregate: { name: zone.name, availability_zone: zone.name } });
    zone.aggregate = aggregate.id;
    await admin.call('POST', `/compute/v2.1/os-aggregates/${aggregate.id}/action`, 200, { add_host: { host } });
    zone.host = host;
  };
  /** A server on `networkId`, forced (admins may) onto `host`, in the host's zone. */
  const server = async (name: string, networkId: string, host: string) => {
    const az = `${host === zone.host ? zone.name : 'nova'}:${host}`;
    const body = { server: { name: `${name}-${tag}`, flavorRef: M1_TINY, imageRef: image, networks: [{ uuid: networkId }], availability_zone: az } };
    const { server: s } = await admin.call('POST', '/compute/v2.1/servers', 202, body);
    servers.push({ id: s.id, api: admin });
    return s.id as string;
  };
  /** The server's one port (recorded for the leak check). */
  const portOf = async (id: string) => (await ids.portsOf(admin, id))[0];
  const addressOf = (id: string) => guestAddress(admin, id);
  /** Three pings from a guest's console: whether they got through. */
  const pings = (from: string, host: string, to: string) => guestSucceeds(admin, host, from, `ping -c 3 -W 2 ${to} >/dev/null 2>&1`);

  it('gives two servers on two hosts their DHCP addresses, and they ping each other over VXLAN', async () => {
    const hosts = (await admin.hosts()).filter((h: { state: string }) => h.state === 'up').map((h: { id: string }) => h.id).sort();
    await zoneOf(hosts[1]);
    const net = await network(admin, '10.50.0.0/24');
    const a = await server('a', net, hosts[0]);
    const b = await server('b', net, hosts[1]);
    for (const id of [a, b]) await eventually(`server ${id} ACTIVE`, async () => (await admin.getServer(id)).status === 'ACTIVE', 180_000);
    const [ipA, ipB] = [await addressOf(a), await addressOf(b)];
    const shown = await admin.getServer(a);
    expect(Object.values(shown.addresses).flat().map((x: any) => x.addr)).toEqual([ipA]);
    expect(ipA).toMatch(/^10\.50\.0\./);
    await waitForConsole(admin, b, 'NUBO-GUEST: ready');
    await waitForConsole(admin, a, 'NUBO-GUEST: ready');
    expect(await pings(a, hosts[0], ipB)).toBe(true);
    expect(await pings(b, hosts[1], ipA)).toBe(true);

    // Project B: a network with the same CIDR (its addresses from .100 up, so that none is A's or B's)
    // and a server on hosts[1], through that host's zone (only admins force hosts).
    projectB = await createTenant(admin, `tn-b-${tag}`);
    const other = await network(projectB.client, '10.50.0.0/24', [{ start: '10.50.0.100', end: '10.50.0.200' }]);
    const c = await serverOf(projectB.client, 'c', other, zone.name);
    await eventually(`server ${c} ACTIVE`, async () => (await admin.getServer(c)).status === 'ACTIVE', 180_000);
    expect((await admin.getServer(c))['OS-EXT-SRV-ATTR:host']).toBe(hosts[1]);
    expect(await addressOf(c)).toMatch(/^10\.50\.0\.1\d\d$/);
    await waitForConsole(admin, c, 'NUBO-GUEST: ready');
    expect(await pings(c, hosts[1], ipA)).toBe(false);
    expect(await pings(c, hosts[1], ipB)).toBe(false);

    // While a pings b: a capture on c's TAP sees none of their frames; one on b's TAP, same host, same window, sees the ICMP.
    const [portA, portB, portC] = [await portOf(a), await portOf(b), await portOf(c)];
    const captures: TapCapture[] = [];
    try {
      captures.push(await startCapture(hosts[1], tapName(portC.id)), await startCapture(hosts[1], tapName(portB.id)));
      expect(await pings(a, hosts[0], ipB)).toBe(true);
      const [onC, onB] = [await captures[0].stop(), await captures[1].stop()];
      expect(icmpBetween(onB, ipA, ipB).length).toBeGreaterThanOrEqual(2);
      expect(framesMentioning(onB, { macs: [portA.mac_address] }).length).toBeGreaterThan(0);
      expect(framesMentioning(onC, { macs: [portA.mac_address, portB.mac_address], ips: [ipA, ipB] }).map((f) => f.line)).toEqual([]);
    } finally {
      for (const capture of captures) await capture.stop();
    }
  });

  it('leaves no tap, bridge or VXLAN device of deleted servers and networks on any host', async () => {
    const hosts = (await admin.hosts()).map((h: { id: string }) => h.id);
    for (const s of servers.splice(0)) {
      await s.api.call('DELETE', `/compute/v2.1/servers/${s.id}`, 204);
      await s.api.waitForGone(s.id);
    }
    for (const n of networks.splice(0)) await n.api.call('DELETE', `/network/v2.0/networks/${n.id}`, 204);
    for (const host of hosts) {
      await eventually(`no tenant devices on ${host}`, async () => {
        const names = JSON.parse(execFileSync('ip', ['-n', host, '-j', 'link', 'show'], { encoding: 'utf8' })).map((l: { ifname: string }) => l.ifname);
        return names.every((n: string) => !/^n[bvlt]-[0-9a-f]{12}$/.test(n)) || undefined;
      }, 60_000);
    }
  });
});
