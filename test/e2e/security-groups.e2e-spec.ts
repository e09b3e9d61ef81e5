/**
 * Security groups on real guests (TCG test guest), on one VXLAN network over two hosts: a TCP
 * port of a server in a group without ingress rules is unreachable until a rule opens it, and
 * closed again when the rule goes (the API answers once the hosts hold the change); a guest that
 * takes another address gets nothing through (anti-spoofing).
 */
import { OpenStackClient } from '@nubo/client';
import { adminClient } from '../support/cloud';
import { guestSucceeds, testImageId, typeOnSerial, waitForConsole } from '../support/guest';
import { NetworkIdRecorder } from '../support/network-leaks';

jest.setTimeout(900_000);
const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';

(isRoot ? describe : describe.skip)('security groups between real guests', () => {
  let admin: OpenStackClient;
  /** Undone in this order: servers, then the port they held, the group, the network. */
  const cleanup = { servers: [] as string[], port: '', group: '', network: '' };
  const tag = Date.now().toString(36);
  const ids = new NetworkIdRecorder();
  let hosts: string[];
  let client: { id: string; host: string; ip: string };
  let web: { id: string; host: string; ip: string };
  let group: string;

  /** Runs a shell line on a guest's console: whether it succeeded. */
  const run = (s: { id: string; host: string }, line: string) => guestSucceeds(admin, s.host, s.id, line);
  /** A TCP connection from the client to the web server's port 7777 gets the listener's greeting. */
  const connects = () => run(client, `echo x | nc -w 3 ${web.ip} 7777 | grep -q HELLO`);

  beforeAll(async () => {
    admin = await adminClient();
    const image = await testImageId(admin);
    hosts = (await admin.hosts()).filter((h: { state: string }) => h.state === 'up').map((h: { id: string }) => h.id).sort();
    const { network } = await admin.call('POST', '/network/v2.0/networks', 201, { network: { name: `sg-${tag}` } });
    cleanup.network = ids.network(network.id);
    await admin.call('POST', '/network/v2.0/subnets', 201, { subnet: { network_id: network.id, ip_version: 4, cidr: '10.60.0.0/24' } });
    const sg = await admin.call('POST', '/network/v2.0/security-groups', 201, { security_group: { name: `web-${tag}` } });
    group = sg.security_group.id;
    cleanup.group = group;
    // The web server's port: in a group of its own, without the default group's "from the same group" rule.
    const { port } = await admin.call('POST', '/network/v2.0/ports', 201, { port: { network_id: network.id, security_groups: [group] } });
    cleanup.port = ids.port(port.id, port.mac_address);
    const boot = async (name: string, nic: Record<string, string>, host: string) => {
      const { server } = await admin.call('POST', '/compute/v2.1/servers', 202, {
        server: { name: `${name}-${tag}`, flavorRef: M1_TINY, imageRef: image, networks: [nic], availability_zone: `nova:${host}` },
      });
      cleanup.servers.push(server.id);
      const log = await waitForConsole(admin, server.id, 'NUBO-GUEST: ready');
      await ids.portsOf(admin, server.id);
      return { id: server.id as string, host, ip: /NUBO-GUEST: address (\d+\.\d+\.\d+\.\d+)\//.exec(log)![1] };
    };
    [client, web] = await Promise.all([boot('client', { uuid: network.id }, hosts[0]), boot('web', { port: port.id }, hosts[1])]);
    await typeOnSerial(web.host, web.id, 'nc -ll -p 7777 -e /bin/echo HELLO &');
  });

  afterAll(async () => {
    for (const id of cleanup.servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of cleanup.servers) await admin.waitForGone(id).catch(() => undefined);
    if (cleanup.port) await admin.call('DELETE', `/network/v2.0/ports/${cleanup.port}`, 204);
    if (cleanup.group) await admin.call('DELETE', `/network/v2.0/security-groups/${cleanup.group}`, 204);
    if (cleanup.network) await admin.call('DELETE', `/network/v2.0/networks/${cleanup.network}`, 204);
    await ids.expectNoLeaks();
  });

  it('keeps a TCP port closed until a rule opens it, and closed again once the rule is deleted', async () => {
    expect(await connects()).toBe(false);
    const { security_group_rule: rule } = await admin.call('POST', '/network/v2.0/security-group-rules', 201, {
      security_group_rule: { security_group_id: group, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 7777, port_range_max: 7777 },
    });
    expect(await connects()).toBe(true);
    await admin.call('DELETE', `/network/v2.0/security-group-rules/${rule.id}`, 204);
    expect(await connects()).toBe(false);
  });

  it('lets nothing through from a guest that takes an address that is not its own', async () => {
    await admin.call('POST', '/network/v2.0/security-group-rules', 201, {
      security_group_rule: { security_group_id: group, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' },
    });
    expect(await run(client, `ping -c 2 -W 2 ${web.ip} >/dev/null`)).toBe(true);
    expect(await run(client, `ip addr add 10.60.0.250/24 dev eth0 && ping -c 2 -W 2 -I 10.60.0.250 ${web.ip} >/dev/null`)).toBe(false);
    expect(await run(client, `ip addr del 10.60.0.250/24 dev eth0 && ping -c 2 -W 2 ${web.ip} >/dev/null`)).toBe(true);
  });

  it('lets nothing through from a guest that changes its MAC, and lets it through again with its own', async () => {
    const own = (await admin.call('GET', `/network/v2.0/ports?device_id=${client.id}`, 200)).ports[0].mac_address;
    expect(own).toMatch(/^fa:16:3e:/);
    expect(await run(client, `ip link set eth0 address fa:16:3e:00:be:ef && ip neigh flush dev eth0 && ping -c 2 -W 2 ${web.ip} >/dev/null`)).toBe(false);
    expect(await run(client, `ip link set eth0 address ${own} && ping -c 2 -W 2 ${web.ip} >/dev/null`)).toBe(true);
  });
});
