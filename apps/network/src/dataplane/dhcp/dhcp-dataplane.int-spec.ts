/**
 * The DHCP role against the real kernel and dnsmasq. A bridge nbtdbr0 in namespace nbt-d-br, the
 * DHCP namespace (nbt-d-q<network>) attached to it by DhcpDataplane, and three "VMs" (namespaces
 * nbt-d-vm1..3 on veths with known MACs) running busybox udhcpc. Needs root, dnsmasq and busybox;
 * every name starts with nbt-d / nbtd and everything is removed in afterAll.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DhcpDataplane } from './dhcp-dataplane';
import { DesiredDhcpNetwork, DhcpDataplaneOptions } from './dhcp-types';
import { findDnsmasq, stopProcess } from './dnsmasq-process';
import { Vm, addresses, attachVm, deleteNamespaces, hasCommand, link, namespacesWith, quietNamespace, sh, udhcpc, writeScript } from './dhcp-lab';

const PREFIX = 'nbt-d-';
const BRIDGE_NS = `${PREFIX}br`;
const BRIDGE = 'nbtdbr0';
const ready = process.getuid?.() === 0 && hasCommand('dnsmasq') && hasCommand('busybox');

const NETWORK = randomUUID();
const SUBNET = randomUUID();
const SUBNET_2 = randomUUID();
const PORTS = [randomUUID(), randomUUID()];
const MACS = ['fa:16:3e:d0:00:01', 'fa:16:3e:d0:00:02', 'fa:16:3e:d0:00:03'];

const network = (o: { vm1Ip?: string; secondSubnet?: boolean } = {}): DesiredDhcpNetwork => ({
  networkId: NETWORK,
  mtu: 1450,
  bridge: BRIDGE,
  bridgeNetns: BRIDGE_NS,
  dhcpPort: { id: randomUUID(), mac: 'fa:16:3e:d0:00:0d', ipAddresses: ['10.61.0.2', ...(o.secondSubnet ? ['10.63.0.2'] : [])] },
  subnets: [
    { id: SUBNET, cidr: '10.61.0.0/24', gatewayIp: '10.61.0.1', dnsNameservers: ['192.0.2.53'], enableDhcp: true,
      hostRoutes: [{ destination: '10.62.0.0/16', nexthop: '10.61.0.254' }] },
    ...(o.secondSubnet ? [{ id: SUBNET_2, cidr: '10.63.0.0/24', gatewayIp: null, dnsNameservers: [], hostRoutes: [], enableDhcp: true }] : []),
  ],
  // MACS[2] (vm3) has no lease.
  leases: [
    { portId: PORTS[0], mac: MACS[0], ipAddress: o.vm1Ip ?? '10.61.0.11' },
    { portId: PORTS[1], mac: MACS[1], ipAddress: '10.61.0.12' },
  ],
});

(ready ? describe : describe.skip)(`${DhcpDataplane.name} on the real kernel (skipped unless root with dnsmasq and busybox)`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-d-'));
  chmodSync(dir, 0o711); // dnsmasq reads its files as nobody
  const stateDir = join(dir, 'state');
  const options: DhcpDataplaneOptions = { stateDir, namespacePrefix: `${PREFIX}q`, linkPrefix: 'nbtd' };
  const dhcp = new DhcpDataplane(options);
  const names = dhcp.namesOf(NETWORK);
  const vms: Vm[] = [];
  let script = '';
  const dnsmasqPids = async () => (await findDnsmasq(stateDir)).map((p) => p.pid);

  beforeAll(() => {
    deleteNamespaces(PREFIX);
    quietNamespace(BRIDGE_NS);
    sh('ip', ['-n', BRIDGE_NS, 'link', 'add', 'name', BRIDGE, 'type', 'bridge']);
    sh('ip', ['-n', BRIDGE_NS, 'link', 'set', 'dev', BRIDGE, 'up']);
    for (const [i, mac] of MACS.entries()) {
      vms.push(attachVm({ bridgeNs: BRIDGE_NS, bridge: BRIDGE, ns: `${PREFIX}vm${i + 1}`, dev: `nbtdvm${i + 1}`, peer: `nbtdp${i + 1}`, mac }));
    }
    script = writeScript(dir);
  });

  afterAll(async () => {
    for (const pid of await dnsmasqPids()) await stopProcess(pid, 500);
    deleteNamespaces(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the namespace, the veth on the bridge with the DHCP port address, and starts one dnsmasq', async () => {
    const result = await dhcp.sync([network()]);
    expect(result).toMatchObject({ started: [NETWORK], failed: [], removed: [] });
    expect(names.namespace).toMatch(/^nbt-d-q[0-9a-f]{12}$/);
    expect(addresses(names.namespace, names.innerDevice)).toEqual(['10.61.0.2/24']);
    expect(link(names.namespace, names.innerDevice)).toMatchObject({ mtu: 1450, address: 'fa:16:3e:d0:00:0d' });
    expect(link(BRIDGE_NS, names.outerDevice)).toMatchObject({ mtu: 1450, master: BRIDGE });
    expect(await dnsmasqPids()).toHaveLength(1);
    expect(readdirSync(join(stateDir, names.namespace)).sort()).toEqual(['dnsmasq.pid', 'hosts', 'leases', 'opts']);
  });

  it('gives each VM exactly its static address, the gateway as router, MTU 1450 and the host routes', async () => {
    const offers = await Promise.all([udhcpc(vms[0], script, dir), udhcpc(vms[1], script, dir)]);
    for (const [i, offer] of offers.entries()) {
      expect(offer).toMatchObject({ ok: true, fields: { ip: `10.61.0.1${i + 1}`, subnet: '255.255.255.0', router: '10.61.0.1', mtu: '1450', hostname: `host-10-61-0-1${i + 1}` } });
      expect(offer.fields.staticroutes).toBe('10.62.0.0/16 10.61.0.254 0.0.0.0/0 10.61.0.1');
      expect(addresses(vms[i].ns, vms[i].dev)).toEqual([`10.61.0.1${i + 1}/24`]);
      expect(link(vms[i].ns, vms[i].dev).mtu).toBe(1450);
    }
  });

  it('gives no address to a MAC without a lease', async () => {
    expect(await udhcpc(vms[2], script, dir)).toMatchObject({ ok: false, fields: {}, log: expect.stringContaining('no lease') });
    expect(addresses(vms[2].ns, vms[2].dev)).toEqual([]);
  });

  it('changes nothing when synced again with the same networks', async () => {
    const before = await dnsmasqPids();
    expect(await dhcp.sync([network()])).toMatchObject({ unchanged: [NETWORK], started: [], reloaded: [], restarted: [] });
    expect(await dnsmasqPids()).toEqual(before);
  });

  it('serves a changed lease after a SIGHUP, without restarting dnsmasq', async () => {
    const before = await dnsmasqPids();
    expect(await dhcp.sync([network({ vm1Ip: '10.61.0.21' })])).toMatchObject({ reloaded: [NETWORK], failed: [] });
    await new Promise((resolve) => setTimeout(resolve, 200)); // dnsmasq handles the signal in its loop
    const offer = await udhcpc(vms[0], script, dir);
    expect(offer).toMatchObject({ ok: true, fields: { ip: '10.61.0.21', hostname: 'host-10-61-0-21' } });
    expect(addresses(vms[0].ns, vms[0].dev)).toEqual(['10.61.0.21/24']);
    expect(await dnsmasqPids()).toEqual(before);
  });

  it('restarts dnsmasq when the set of ranges changes, and puts the DHCP port address of the new subnet on the veth', async () => {
    const [before] = await dnsmasqPids();
    expect(await dhcp.sync([network({ vm1Ip: '10.61.0.21', secondSubnet: true })])).toMatchObject({ restarted: [NETWORK], failed: [] });
    const after = await dnsmasqPids();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
    expect(addresses(names.namespace, names.innerDevice).sort()).toEqual(['10.61.0.2/24', '10.63.0.2/24']);
  });

  it('reports a network that is not desired as a leak, and a fresh instance removes it all', async () => {
    const leaks = await dhcp.leaks([]);
    expect(leaks).toMatchObject({ namespaces: [names.namespace], stateDirs: [names.namespace] });
    expect(leaks.processes).toEqual([{ pid: (await dnsmasqPids())[0], name: names.namespace }]);
    expect(await dhcp.leaks([network()])).toEqual({ namespaces: [], processes: [], stateDirs: [] });

    // As a restarted service would: nothing known but the options.
    const restarted = new DhcpDataplane(options);
    expect(await restarted.sync([])).toMatchObject({ removed: [names.namespace], failed: [] });
    expect(await restarted.leaks([])).toEqual({ namespaces: [], processes: [], stateDirs: [] });
    expect(await dnsmasqPids()).toEqual([]);
    expect(namespacesWith(`${PREFIX}q`)).toEqual([]);
    expect(() => link(BRIDGE_NS, names.outerDevice)).toThrow();
  });

  it('leaves alone a desired network whose description is invalid', async () => {
    await dhcp.sync([network()]);
    const [pid] = await dnsmasqPids();
    const broken = { ...network(), mtu: 70_000 };
    expect(await dhcp.sync([broken])).toMatchObject({ failed: [{ networkId: NETWORK, error: expect.stringContaining('mtu') }], removed: [] });
    expect(await dnsmasqPids()).toEqual([pid]);
    expect(await dhcp.sync([])).toMatchObject({ removed: [names.namespace] });
    expect(await dnsmasqPids()).toEqual([]);
  });
});
