import { ValidationError } from '@nubo/contracts';
import { planDataPlane } from './data-plane-planner';
import { DesiredDataPlane, LinkOp, ObservedDataPlane, ObservedLink } from './data-plane-types';
import { applyOps } from './fake-link-host';

const NET_A = 'aaaaaaaa-1111-4111-8111-000000000001';
const NET_B = 'bbbbbbbb-2222-4222-8222-000000000002';
const NET_F = 'ffffffff-3333-4333-8333-000000000003';
const NET_V = 'cccccccc-4444-4444-8444-000000000004';
const PORT_1 = '11111111-aaaa-4aaa-8aaa-000000000001';
const PORT_2 = '22222222-bbbb-4bbb-8bbb-000000000002';
const PORT_3 = '33333333-cccc-4ccc-8ccc-000000000003';

const eth1: ObservedLink = { name: 'eth1', mtu: 1500, up: true, address: '52:54:00:00:00:01' };
const eth2: ObservedLink = { name: 'eth2', mtu: 9000, up: true, address: '52:54:00:00:00:02' };
const empty = (vlan = true): ObservedDataPlane => ({ links: [{ name: 'lo', mtu: 65536, up: true }, eth1, eth2], fdb: [], kernel: { vlan } });

function desired(extra: Partial<DesiredDataPlane> = {}): DesiredDataPlane {
  return {
    underlayAddress: '10.78.0.1',
    tapOwner: 'nubo-qemu',
    networks: [
      { id: NET_A, type: 'vxlan', segmentationId: 7801, peers: ['10.78.0.2', '10.78.0.3', '10.78.0.1'] },
      { id: NET_F, type: 'flat', physicalInterface: 'eth1' },
      { id: NET_V, type: 'vlan', segmentationId: 101, physicalInterface: 'eth2' },
    ],
    ports: [
      { id: PORT_1, networkId: NET_A, mac: 'fa:16:3e:00:00:01' },
      { id: PORT_2, networkId: NET_F, mac: 'fa:16:3e:00:00:02' },
      { id: PORT_3, networkId: NET_V, mac: 'fa:16:3e:00:00:03' },
    ],
    ...extra,
  };
}

/** A host where `want` was applied (through the fake kernel). */
const converged = (want: DesiredDataPlane, host = empty()): ObservedDataPlane => applyOps(host, planDataPlane(want, host).ops);
const edit = (host: ObservedDataPlane, name: string, patch: Partial<ObservedLink>): ObservedDataPlane => ({
  ...host, links: host.links.map((l) => (l.name === name ? { ...l, ...patch } : l)),
});

describe(planDataPlane.name, () => {
  describe('an empty host', () => {
    it('creates bridge, VXLAN and tap, sets them up and floods to the peers but itself', () => {
      const want = desired({ networks: [desired().networks[0]], ports: [desired().ports[0]] });
      expect(planDataPlane(want, empty())).toEqual({
        refused: [],
        ops: [
          { op: 'create-bridge', name: 'nb-aaaaaaaa1111' },
          { op: 'create-vxlan', name: 'nv-aaaaaaaa1111', vni: 7801, local: '10.78.0.1', port: 4789 },
          { op: 'create-tap', name: 'nt-11111111aaaa', owner: 'nubo-qemu' },
          { op: 'set', name: 'nb-aaaaaaaa1111', mtu: 1450, up: true },
          { op: 'set', name: 'nv-aaaaaaaa1111', mtu: 1450, master: 'nb-aaaaaaaa1111', up: true },
          { op: 'set', name: 'nt-11111111aaaa', address: 'fe:16:3e:00:00:01', mtu: 1450, master: 'nb-aaaaaaaa1111', up: true },
          { op: 'fdb-add', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' },
          { op: 'fdb-add', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.3' },
        ],
      });
    });

    it('bridges a flat network\'s physical interface as it is and gives vlan networks a sub-interface, at 1500', () => {
      const ops = planDataPlane(desired({ networks: desired().networks.slice(1), ports: desired().ports.slice(1) }), empty()).ops;
      expect(ops).toContainEqual({ op: 'set', name: 'eth1', master: 'nb-ffffffff3333' });
      expect(ops).toContainEqual({ op: 'create-vlan', name: 'nl-cccccccc4444', parent: 'eth2', vlanId: 101 });
      expect(ops).toContainEqual({ op: 'set', name: 'nl-cccccccc4444', mtu: 1500, master: 'nb-cccccccc4444', up: true });
      expect(ops).toContainEqual({ op: 'set', name: 'nt-22222222bbbb', address: 'fe:16:3e:00:00:02', mtu: 1500, master: 'nb-ffffffff3333', up: true });
      expect(ops.filter((op) => op.op !== 'set' || op.name !== 'eth1').every((op) => !('name' in op) || op.name.startsWith('n'))).toBe(true);
    });
  });

  describe('a converged host', () => {
    it.each<[string, DesiredDataPlane]>([
      ['vxlan, flat and vlan networks with ports', desired()],
      ['networks without ports', desired({ ports: [] })],
      ['nothing', desired({ networks: [], ports: [] })],
      ['a VXLAN bound to an underlay device on another port', desired({ underlayDevice: 'ul0', vxlanPort: 8472 })],
    ])('plans nothing: %s', (_, want) => {
      const host = converged(want, { ...empty(), links: [...empty().links, { name: 'ul0', mtu: 1500, up: true }] });
      expect(planDataPlane(want, host)).toEqual({ ops: [], refused: [] });
    });
  });

  describe('changes', () => {
    const want = desired();
    const host = converged(want);
    const withPeers = (peers: string[]) => ({ ...want, networks: want.networks.map((n) => (n.id === NET_A ? { ...n, peers } : n)) });

    it.each<[string, DesiredDataPlane, ObservedDataPlane, LinkOp[]]>([
      ['a peer added: one FDB entry', withPeers(['10.78.0.2', '10.78.0.3', '10.78.0.4']), host,
        [{ op: 'fdb-add', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.4' }]],
      ['a peer removed: its FDB entry only', withPeers(['10.78.0.3']), host,
        [{ op: 'fdb-del', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' }]],
      ['a stray unicast FDB entry on our VXLAN: removed', want,
        { ...host, fdb: [...host.fdb, { device: 'nv-aaaaaaaa1111', mac: 'fa:16:3e:99:99:99', dst: '10.78.0.9' }] },
        [{ op: 'fdb-del', device: 'nv-aaaaaaaa1111', mac: 'fa:16:3e:99:99:99', dst: '10.78.0.9' }]],
      ['MTU drift on a tap and a bridge: set back', want, edit(edit(host, 'nt-11111111aaaa', { mtu: 1500 }), 'nb-cccccccc4444', { mtu: 9000 }),
        [{ op: 'set', name: 'nb-cccccccc4444', mtu: 1500 }, { op: 'set', name: 'nt-11111111aaaa', mtu: 1450 }]],
      ['a tap put down and out of its bridge: back in, up', want, edit(host, 'nt-11111111aaaa', { master: undefined, up: false }),
        [{ op: 'set', name: 'nt-11111111aaaa', master: 'nb-aaaaaaaa1111', up: true }]],
      ['a port removed: its tap deleted', { ...want, ports: want.ports.slice(1) }, host,
        [{ op: 'delete', name: 'nt-11111111aaaa', reason: 'not desired' }]],
      ['a network and its port removed: tap, VXLAN, bridge deleted in that order', { ...want, networks: want.networks.slice(1), ports: want.ports.slice(1) }, host,
        [{ op: 'delete', name: 'nt-11111111aaaa', reason: 'not desired' }, { op: 'delete', name: 'nv-aaaaaaaa1111', reason: 'not desired' },
          { op: 'delete', name: 'nb-aaaaaaaa1111', reason: 'not desired' }]],
      ['a stale device of ours (an old network\'s bridge): deleted', want,
        { ...host, links: [...host.links, { name: 'nb-0123456789ab', kind: 'bridge', mtu: 1450, up: true }] },
        [{ op: 'delete', name: 'nb-0123456789ab', reason: 'not desired' }]],
      ['foreign devices, even enslaved to our bridge or named like ours: untouched', want,
        { ...host, links: [...host.links, { name: 'nb-test', kind: 'bridge', mtu: 1500, up: false }, { name: 'br0', kind: 'bridge', mtu: 1500, up: true },
          { name: 'vnet0', kind: 'tun', mtu: 1500, up: false, master: 'nb-aaaaaaaa1111' }, { name: 'nt-ABCDEF123456', kind: 'tun', mtu: 1, up: false }] },
        []],
    ])('%s', (_, next, observed, ops) => {
      expect(planDataPlane(next, observed)).toEqual({ ops, refused: [] });
      expect(planDataPlane(next, applyOps(observed, ops)).ops).toEqual([]);
    });

    it.each<[string, Partial<ObservedLink>, string]>([
      ['another VNI', { vxlan: { vni: 9, local: '10.78.0.1', port: 4789, learning: false } }, 'VNI is 9, not 7801'],
      ['another local address', { vxlan: { vni: 7801, local: '10.78.0.9', port: 4789, learning: false } }, 'local address is 10.78.0.9, not 10.78.0.1'],
      ['learning on', { vxlan: { vni: 7801, local: '10.78.0.1', port: 4789, learning: true } }, 'learns addresses'],
      ['a bridge where the VXLAN should be', { kind: 'bridge', vxlan: undefined }, 'is a bridge, not a vxlan'],
    ])('remakes a VXLAN device with %s, re-enslaves it and refills its FDB', (_, patch, reason) => {
      const ops = planDataPlane(want, edit(host, 'nv-aaaaaaaa1111', patch)).ops;
      expect(ops).toEqual([
        { op: 'delete', name: 'nv-aaaaaaaa1111', reason },
        { op: 'create-vxlan', name: 'nv-aaaaaaaa1111', vni: 7801, local: '10.78.0.1', port: 4789 },
        { op: 'set', name: 'nv-aaaaaaaa1111', mtu: 1450, master: 'nb-aaaaaaaa1111', up: true },
        { op: 'fdb-add', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' },
        { op: 'fdb-add', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.3' },
      ]);
    });

    it('remakes a tap owned by another user', () => {
      const ops = planDataPlane(want, edit(host, 'nt-11111111aaaa', { tun: { type: 'tap', owner: 'root', multiQueue: false } })).ops;
      expect(ops.slice(0, 2)).toEqual([
        { op: 'delete', name: 'nt-11111111aaaa', reason: 'owner is root, not nubo-qemu' },
        { op: 'create-tap', name: 'nt-11111111aaaa', owner: 'nubo-qemu' },
      ]);
    });

    it('re-enslaves the ports of a bridge it had to remake, the physical interface included', () => {
      const ops = planDataPlane(want, edit(host, 'nb-ffffffff3333', { kind: 'vxlan' })).ops;
      expect(ops).toEqual([
        { op: 'delete', name: 'nb-ffffffff3333', reason: 'is a vxlan, not a bridge' },
        { op: 'create-bridge', name: 'nb-ffffffff3333' },
        { op: 'set', name: 'nb-ffffffff3333', mtu: 1500, up: true },
        { op: 'set', name: 'eth1', master: 'nb-ffffffff3333' },
        { op: 'set', name: 'nt-22222222bbbb', master: 'nb-ffffffff3333' },
      ]);
    });
  });

  describe('networks the host cannot carry', () => {
    it('refuses a vlan network on a kernel without 802.1q, keeps its devices and still plans the others', () => {
      const host = { ...converged(desired({ networks: desired().networks.slice(0, 2), ports: desired().ports.slice(0, 2) }), empty(false)) };
      const withStaleTap = { ...host, links: [...host.links, { name: 'nt-33333333cccc', kind: 'tun', mtu: 1500, up: true, tun: { type: 'tap', multiQueue: false } }] };
      const plan = planDataPlane(desired(), withStaleTap);
      expect(plan.refused).toEqual([{ networkId: NET_V, reason: `network ${NET_V} is a vlan network, but this host's kernel has no 802.1q VLAN devices (module 8021q)` }]);
      expect(plan.ops).toEqual([]);
      expect(planDataPlane(desired({ ports: [] }), empty(false)).ops.some((op) => 'name' in op && op.name.endsWith('cccccccc4444'))).toBe(false);
    });

    it.each<[string, ObservedLink[], string]>([
      ['a missing physical interface', [], `physical interface eth1 of network ${NET_F} is not on this host`],
      ['a physical interface in a foreign bridge', [{ ...eth1, master: 'br0' }], `physical interface eth1 of network ${NET_F} is already a port of br0`],
    ])('refuses a flat network on %s', (_, links, reason) => {
      const plan = planDataPlane(desired({ networks: [desired().networks[1]], ports: [] }), { links, fdb: [], kernel: { vlan: true } });
      expect(plan).toEqual({ ops: [], refused: [{ networkId: NET_F, reason }] });
    });
  });

  describe('bad desired state', () => {
    const net = desired().networks;
    it.each<[string, Partial<DesiredDataPlane>, string]>([
      ['a VNI out of range', { networks: [{ ...net[0], segmentationId: 16_777_216 }] }, 'networks[0].segmentationId'],
      ['a vxlan network without an underlay address', { underlayAddress: undefined }, 'underlayAddress'],
      ['a peer that is no address', { networks: [{ ...net[0], peers: ['host-2'] }] }, 'networks[0].peers[0]'],
      ['a network id that is no UUID', { networks: [{ ...net[0], id: 'my-net' }] }, 'networks[0].id'],
      ['a port id that is no UUID', { ports: [{ ...desired().ports[0], id: 'port-1' }] }, 'ports[0].id'],
      ['an unknown type', { networks: [{ ...net[0], type: 'gre' as 'vxlan' }] }, 'networks[0].type'],
      ['a vlan id of 4095', { networks: [{ ...net[2], segmentationId: 4095 }], ports: [] }, 'networks[0].segmentationId'],
      ['a flat network without an interface', { networks: [{ ...net[1], physicalInterface: undefined }], ports: [] }, 'networks[0].physicalInterface'],
      ['a physical interface named like ours', { networks: [{ ...net[1], physicalInterface: 'nb-0123456789ab' }], ports: [] }, 'networks[0].physicalInterface'],
      ['an MTU below 68', { networks: [{ ...net[0], mtu: 67 }], ports: [] }, 'networks[0].mtu'],
      ['two vxlan networks with one VNI', { networks: [net[0], { ...net[0], id: NET_B }], ports: [] }, 'segmentationId'],
      ['one interface flat and vlan parent', { networks: [net[1], { ...net[2], physicalInterface: 'eth1' }], ports: [] }, 'physicalInterface'],
      ['a port on a network not on this host', { ports: [{ id: PORT_1, networkId: NET_B, mac: 'fa:16:3e:00:00:01' }] }, 'ports[0].networkId'],
      ['a multicast MAC', { ports: [{ id: PORT_1, networkId: NET_A, mac: '01:00:5e:00:00:01' }] }, 'ports[0].mac'],
      ['two ports with one tap name', { ports: [{ ...desired().ports[0] }, { ...desired().ports[0], id: '11111111-aaaa-ffff-0000-000000000000' }] }, 'ports[1].id'],
      ['a tap owner with a space', { tapOwner: 'nubo qemu' }, 'tapOwner'],
    ])('throws a ValidationError naming the field for %s', (_, patch, field) => {
      let error: unknown;
      try {
        planDataPlane(desired(patch), empty());
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details).toEqual({ field });
    });
  });
});
