import { parseFdb, parseLinks } from './observed-state';

// Trimmed from iproute2 6.1 on Linux 6.18 (`ip -json -d link show`, `bridge -json fdb show`).
const LINKS = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, address: '00:00:00:00:00:00' },
  { ifindex: 2, ifname: 'nb-aaaaaaaa1111', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'], mtu: 1450, address: '16:10:0C:45:D2:34',
    linkinfo: { info_kind: 'bridge', info_data: { stp_state: 0, vlan_filtering: 0 } } },
  { ifindex: 3, ifname: 'nv-aaaaaaaa1111', flags: ['BROADCAST', 'MULTICAST'], mtu: 1450, master: 'nb-aaaaaaaa1111', address: '9e:27:d3:41:cb:bf',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 7801, local: '10.78.0.1', link: 'ul0', port: 4789, learning: false, ttl: 0 }, info_slave_kind: 'bridge' } },
  { ifindex: 4, ifname: 'nt-11111111aaaa', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'], mtu: 1450, master: 'nb-aaaaaaaa1111',
    linkinfo: { info_kind: 'tun', info_data: { type: 'tap', pi: false, vnet_hdr: false, multi_queue: false, persist: true, user: 'nubo-qemu' } } },
  { ifindex: 5, ifname: 'nt-22222222bbbb', flags: [], mtu: 1500, linkinfo: { info_kind: 'tun', info_data: { type: 'tap', multi_queue: true, user: 995 } } },
  { ifindex: 6, link: 'eth2', ifname: 'nl-cccccccc4444', flags: ['UP'], mtu: 1500, linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 101 } } },
  { ifindex: 7, link: 'ul1', ifname: 'ul0', flags: ['UP', 'LOWER_UP'], mtu: 1500, linkinfo: { info_kind: 'veth' } },
]);

const FDB = JSON.stringify([
  { mac: '33:33:00:00:00:01', ifname: 'nb-aaaaaaaa1111', flags: ['self'], state: 'permanent' },
  { mac: '9e:27:d3:41:cb:bf', ifname: 'nv-aaaaaaaa1111', flags: [], master: 'nb-aaaaaaaa1111', state: 'permanent' },
  { mac: '00:00:00:00:00:00', ifname: 'nv-aaaaaaaa1111', dst: '10.78.0.2', flags: ['self'], state: 'permanent' },
  { mac: 'FA:16:3E:00:00:09', ifname: 'nv-aaaaaaaa1111', dst: '10.78.0.9', flags: ['self'], state: 'permanent' },
]);

describe('observed-state', () => {
  describe(parseLinks.name, () => {
    it('reads kind, MTU, master, UP and the settings the planner compares', () => {
      expect(parseLinks(LINKS)).toEqual([
        { name: 'lo', mtu: 65536, up: true, address: '00:00:00:00:00:00' },
        { name: 'nb-aaaaaaaa1111', kind: 'bridge', mtu: 1450, up: true, address: '16:10:0c:45:d2:34' },
        { name: 'nv-aaaaaaaa1111', kind: 'vxlan', mtu: 1450, up: false, master: 'nb-aaaaaaaa1111', address: '9e:27:d3:41:cb:bf',
          vxlan: { vni: 7801, local: '10.78.0.1', port: 4789, learning: false, device: 'ul0' } },
        { name: 'nt-11111111aaaa', kind: 'tun', mtu: 1450, up: true, master: 'nb-aaaaaaaa1111', tun: { type: 'tap', owner: 'nubo-qemu', multiQueue: false } },
        { name: 'nt-22222222bbbb', kind: 'tun', mtu: 1500, up: false, tun: { type: 'tap', owner: '995', multiQueue: true } },
        { name: 'nl-cccccccc4444', kind: 'vlan', mtu: 1500, up: true, vlan: { id: 101, parent: 'eth2' } },
        { name: 'ul0', kind: 'veth', mtu: 1500, up: true },
      ]);
    });

    it.each([['empty output', ''], ['an empty list', '[]']])('reads %s as no links', (_, text) => {
      expect(parseLinks(text)).toEqual([]);
    });

    it('refuses output that is not a JSON array', () => {
      expect(() => parseLinks('{"ifname":"lo"}')).toThrow('did not print a JSON array');
    });
  });

  describe(parseFdb.name, () => {
    it('keeps only entries that name a remote, MACs in lower case', () => {
      expect(parseFdb(FDB)).toEqual([
        { device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' },
        { device: 'nv-aaaaaaaa1111', mac: 'fa:16:3e:00:00:09', dst: '10.78.0.9' },
      ]);
    });
  });
});
