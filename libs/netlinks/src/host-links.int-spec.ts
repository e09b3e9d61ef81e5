/**
 * The host data plane against the real kernel. Two "hosts", namespaces nbt-l-h1 and nbt-l-h2,
 * joined by a veth underlay (10.78.0.0/24) and a veth "provider" link; HostLinks converges each to
 * two VXLAN networks (VNIs 7801, 7802: the SAME guest addresses on both) and a flat network, one
 * port per network per host. Each port's tap carries a guest (netns-lab.ts: a QEMU relaying the
 * tap to a guest namespace). Needs root, QEMU and busybox; every name starts with nbt-l / nbtl.
 */
import { randomUUID } from 'node:crypto';
import { DesiredDataPlane, DesiredNetwork, DesiredPort } from './data-plane-types';
import { HostLinks } from './host-links';
import { bridgeName, tapName, vxlanName } from './link-names';
import { Guest, deleteNamespaces, hasCommand, kernelHasVlan, ping, quietNamespace, relayGuest, rxPackets, sh, stopGuest } from './netns-lab';
import { spawnSync as spawnUser } from 'node:child_process';

const PREFIX = 'nbt-l-';
const ready = process.getuid?.() === 0 && hasCommand('qemu-system-x86_64') && hasCommand('busybox');
const VLAN = ready && kernelHasVlan(`${PREFIX}vprobe`);
// Taps are made for the QEMU user when the host has it (the agent's default user).
const owner = spawnUser('id', ['-u', 'nubo-qemu']).status === 0 ? 'nubo-qemu' : undefined;

const hosts = { 1: { ns: `${PREFIX}h1`, underlay: '10.78.0.1' }, 2: { ns: `${PREFIX}h2`, underlay: '10.78.0.2' } } as const;
type HostNo = keyof typeof hosts;
const other = (h: HostNo): HostNo => (h === 1 ? 2 : 1);
const A = randomUUID();
const B = randomUUID();
const F = randomUUID();
const networks = (h: HostNo): DesiredNetwork[] => [
  { id: A, type: 'vxlan', segmentationId: 7801, peers: [hosts[1].underlay, hosts[2].underlay] },
  { id: B, type: 'vxlan', segmentationId: 7802, peers: [hosts[other(h)].underlay] },
  { id: F, type: 'flat', physicalInterface: `nbtl-p${h}` },
];
/** One port per network per host; guests get the same address on A and on B. */
const ports = (['1a', '2a', '1b', '2b', '1f', '2f'] as const).map((key, i) => ({
  key, host: Number(key[0]) as HostNo, id: randomUUID(), networkId: { a: A, b: B, f: F }[key[1] as 'a' | 'b' | 'f'],
  mac: `fa:16:3e:78:00:0${i + 1}`, address: `10.78.100.${key[0]}`,
}));
const port = (key: string) => ports.find((p) => p.key === key)!;
const desiredOn = (h: HostNo, keep: (p: (typeof ports)[number]) => boolean = () => true): DesiredDataPlane => ({
  underlayAddress: hosts[h].underlay, underlayDevice: `nbtl-u${h}`, tapOwner: owner, networks: networks(h),
  ports: ports.filter((p) => p.host === h && keep(p)).map(({ id, networkId, mac }): DesiredPort => ({ id, networkId, mac })),
});

(ready ? describe : describe.skip)(`${HostLinks.name} on the real kernel (skipped unless root with QEMU and busybox)`, () => {
  const links = { 1: new HostLinks({ netns: hosts[1].ns }), 2: new HostLinks({ netns: hosts[2].ns }) };
  const guests = new Map<string, Guest>();
  const guest = (key: string) => guests.get(key)!;
  const neighbour = (g: Guest, address: string, of: Guest) => sh('ip', ['-n', g.ns, 'neigh', 'replace', address, 'lladdr',
    JSON.parse(sh('ip', ['-n', of.ns, '-json', 'link', 'show', 'dev', of.dev]))[0].address, 'dev', g.dev, 'nud', 'permanent']);

  beforeAll(async () => {
    deleteNamespaces(PREFIX);
    for (const h of [1, 2] as const) quietNamespace(hosts[h].ns);
    for (const [a, b] of [['nbtl-u1', 'nbtl-u2'], ['nbtl-p1', 'nbtl-p2']]) {
      sh('ip', ['-n', hosts[1].ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', hosts[2].ns]);
      sh('ip', ['-n', hosts[1].ns, 'link', 'set', a, 'up']);
      sh('ip', ['-n', hosts[2].ns, 'link', 'set', b, 'up']);
    }
    sh('ip', ['-n', hosts[1].ns, 'addr', 'add', '10.78.0.1/24', 'dev', 'nbtl-u1']);
    sh('ip', ['-n', hosts[2].ns, 'addr', 'add', '10.78.0.2/24', 'dev', 'nbtl-u2']);
  });

  afterAll(async () => {
    await Promise.all([...guests.values()].map(stopGuest));
    deleteNamespaces(PREFIX);
  });

  it('builds bridges, VXLANs (VNI, local, nolearning), taps (owner, MAC) at 1450, one flood entry per peer, the flat one at 1500', async () => {
    for (const h of [1, 2] as const) {
      const plan = await links[h].converge(desiredOn(h));
      expect(plan.refused).toEqual([]);
      expect(plan.ops.length).toBeGreaterThan(0);
    }
    const seen = await links[1].observe();
    const link = (name: string) => seen.links.find((l) => l.name === name);
    expect(link(vxlanName(B))).toMatchObject({ kind: 'vxlan', mtu: 1450, up: true, master: bridgeName(B),
      vxlan: { vni: 7802, local: '10.78.0.1', port: 4789, learning: false, device: 'nbtl-u1' } });
    expect(link(bridgeName(A))).toMatchObject({ kind: 'bridge', mtu: 1450, up: true });
    expect(link(tapName(port('1a').id))).toMatchObject({ kind: 'tun', mtu: 1450, master: bridgeName(A), address: 'fe:16:3e:78:00:01',
      tun: { type: 'tap', multiQueue: false, ...(owner ? { owner } : {}) } });
    expect(link(bridgeName(F))).toMatchObject({ kind: 'bridge', mtu: 1500 });
    expect(link('nbtl-p1')).toMatchObject({ master: bridgeName(F) });
    expect(seen.fdb.filter((e) => e.device.startsWith('nv-')).sort((x, y) => x.device.localeCompare(y.device))).toEqual(
      [{ device: vxlanName(A), mac: '00:00:00:00:00:00', dst: '10.78.0.2' }, { device: vxlanName(B), mac: '00:00:00:00:00:00', dst: '10.78.0.2' }]
        .sort((x, y) => x.device.localeCompare(y.device)));
  });

  it('carries each network between hosts (VXLAN and flat) from guest to guest through the taps', async () => {
    for (const p of ports) {
      guests.set(p.key, await relayGuest({ hostNs: hosts[p.host].ns, tap: tapName(p.id), relayTap: `nbtl-q${p.key}`, guestNs: `${PREFIX}g${p.key}`,
        address: p.address, mtu: p.networkId === F ? 1500 : 1450 }));
    }
    expect(ping(guest('1a').ns, '10.78.100.2')).toBe(true);
    expect(ping(guest('1b').ns, '10.78.100.2')).toBe(true);
    expect(ping(guest('2f').ns, '10.78.100.1')).toBe(true);
  });

  it('keeps one network\'s traffic from the other, whatever the addresses', async () => {
    // A's guests stop re-checking each other's MAC (ARP probes would move the counters), then quiesce.
    neighbour(guest('1a'), '10.78.100.2', guest('2a'));
    neighbour(guest('2a'), '10.78.100.1', guest('1a'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = { a: rxPackets(guest('2a').ns, guest('2a').dev), b: rxPackets(guest('2b').ns, guest('2b').dev) };
    expect(ping(guest('1b').ns, '10.78.100.2', 3)).toBe(true);
    expect(rxPackets(guest('2b').ns, guest('2b').dev)).toBeGreaterThanOrEqual(before.b + 3);
    expect(rxPackets(guest('2a').ns, guest('2a').dev)).toBe(before.a);
    // With B's guest on host 2 gone, 10.78.100.2 (A's guest, same hosts, same underlay) stays unreachable from B.
    await stopGuest(guest('2b'));
    expect(ping(guest('1b').ns, '10.78.100.2', 2, 2)).toBe(false);
    expect(rxPackets(guest('2a').ns, guest('2a').dev)).toBe(before.a);
    expect(ping(guest('1a').ns, '10.78.100.2')).toBe(true);
  });

  it('plans nothing when applied again (the guests\' QEMUs holding the taps, nothing moved)', async () => {
    for (const h of [1, 2] as const) expect(await links[h].converge(desiredOn(h))).toEqual({ ops: [], refused: [] });
  });

  it('removes a port\'s tap, then the peer\'s flood entry, and leaves no device behind', async () => {
    expect((await links[2].converge(desiredOn(2, (p) => p.key !== '2b'))).ops).toEqual([
      { op: 'delete', name: tapName(port('2b').id), reason: 'not desired' }]);
    const onlyA = (h: HostNo): DesiredDataPlane => ({ ...desiredOn(h, (p) => p.networkId !== B), networks: networks(h).filter((n) => n.id !== B) });
    expect((await links[2].converge(onlyA(2))).ops.map((op) => op.op)).toEqual(['delete', 'delete']);
    const withoutPeer = desiredOn(1);
    withoutPeer.networks[1] = { ...withoutPeer.networks[1], peers: [] };
    expect((await links[1].converge(withoutPeer)).ops).toEqual([{ op: 'fdb-del', device: vxlanName(B), mac: '00:00:00:00:00:00', dst: '10.78.0.2' }]);
    expect((await links[2].leaks()).filter((leak) => leak.kind === 'link' && leak.name.endsWith(bridgeName(B).slice(3)))).toEqual([]);
    expect(ping(guest('1a').ns, '10.78.100.2')).toBe(true);
  });

  it('removes everything, the taps open in QEMU included: the leak checker finds nothing on either host', async () => {
    for (const h of [1, 2] as const) {
      await links[h].converge({ networks: [], ports: [] });
      expect(await links[h].leaks()).toEqual([]);
    }
    expect(sh('ip', ['-n', hosts[1].ns, '-json', 'link', 'show', 'nbtl-p1'])).not.toContain('master');
  });

  (VLAN ? it.skip : it)('refuses a vlan network on this kernel (no 802.1q VLAN devices), saying so, and creates nothing for it', async () => {
    const vlan: DesiredNetwork = { id: randomUUID(), type: 'vlan', segmentationId: 78, physicalInterface: 'nbtl-p1' };
    const plan = await links[1].converge({ networks: [vlan], ports: [] });
    expect(plan).toEqual({ ops: [], refused: [{ networkId: vlan.id, reason: expect.stringContaining('no 802.1q VLAN devices') }] });
    expect(await links[1].leaks()).toEqual([]);
  });

  const vlanTitle = 'carries a vlan network between hosts over an 802.1q sub-interface';
  (VLAN ? it : it.skip)(VLAN ? vlanTitle : `${vlanTitle} (SKIPPED: this kernel has no 802.1q VLAN devices: "ip link add type vlan" says Unknown device type)`, async () => {
    const vlan: DesiredNetwork = { id: randomUUID(), type: 'vlan', segmentationId: 78 };
    const vports = ([1, 2] as const).map((h) => ({ h, id: randomUUID(), networkId: vlan.id, mac: `fa:16:3e:78:01:0${h}` }));
    for (const p of vports) {
      const desired = { networks: [{ ...vlan, physicalInterface: `nbtl-p${p.h}` }], ports: [{ id: p.id, networkId: p.networkId, mac: p.mac }] };
      expect((await links[p.h].converge(desired)).refused).toEqual([]);
      guests.set(`${p.h}v`, await relayGuest({ hostNs: hosts[p.h].ns, tap: tapName(p.id), relayTap: `nbtl-q${p.h}v`, guestNs: `${PREFIX}g${p.h}v`,
        address: `10.78.101.${p.h}`, mtu: 1500 }));
    }
    expect(ping(guest('1v').ns, '10.78.101.2')).toBe(true);
    for (const h of [1, 2] as const) {
      await links[h].converge({ networks: [], ports: [] });
      expect(await links[h].leaks()).toEqual([]);
    }
  });
});
