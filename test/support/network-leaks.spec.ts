import { dnsmasqLeaks, fdbLeaks, leakNames, linkLeaks, namespaceLeaks, nftLeaks } from './network-leaks';

const NET = '0123abcd-ef01-4567-89ab-cdef01234567';
const PORT = 'fedcba98-7654-4321-8fed-cba987654321';
const ROUTER = 'aaaabbbb-cccc-4ddd-8eee-ffff00001111';
const PORT_HEX = 'fedcba98765443218fedcba987654321';
const MAC = 'fa:16:3e:01:02:03';
const names = leakNames({ networks: [NET], ports: [PORT], routers: [ROUTER], macs: [MAC.toUpperCase()] }, 'nubo-e2e');

describe('leakNames', () => {
  it('derives the devices, namespaces and nft tokens of the ids as the product names them', () => {
    expect([...names.links].sort()).toEqual([
      'nb-0123abcdef01', 'nd-0123abcdef01', 'nl-0123abcdef01', 'nrg-fedcba98765', 'nrq-fedcba98765',
      'nt-fedcba987654', 'nv-0123abcdef01', 'qg-fedcba98765', 'qr-fedcba98765',
    ]);
    expect([...names.namespaces].sort()).toEqual(['nubo-e2e-qdhcp-0123abcdef01', `nubo-e2e-qrouter-${ROUTER}`]);
    expect(names.nftTokens).toEqual(expect.arrayContaining([PORT_HEX, 'nt-fedcba987654', 'nb-0123abcdef01']));
    expect(names.macs).toEqual(new Set([MAC]));
  });

  it('refuses an id that is not a UUID', () => {
    expect(() => leakNames({ networks: ['x'], ports: [], routers: [] }, 'c')).toThrow(/not a UUID/);
  });
});

describe('linkLeaks', () => {
  it.each([
    ['reports a leaked tap', [{ ifname: 'nt-fedcba987654' }], ['h1: link nt-fedcba987654']],
    ['reports a leaked bridge and VXLAN device', [{ ifname: 'nb-0123abcdef01' }, { ifname: 'nv-0123abcdef01' }], ['h1: link nb-0123abcdef01', 'h1: link nv-0123abcdef01']],
    ['reports a router veth peer', [{ ifname: 'nrq-fedcba98765' }], ['h1: link nrq-fedcba98765']],
    ['ignores devices of other ids and foreign devices', [{ ifname: 'lo' }, { ifname: 'ul0' }, { ifname: 'nt-000000000000' }], []],
  ])('%s', (_what, links, expected) => {
    expect(linkLeaks('h1', JSON.stringify(links), names)).toEqual(expected);
  });

  it('reads empty output as no links', () => {
    expect(linkLeaks('h1', '', names)).toEqual([]);
  });
});

describe('fdbLeaks', () => {
  it.each([
    ['reports a flood entry on a leaked VXLAN device', { mac: '00:00:00:00:00:00', ifname: 'nv-0123abcdef01', dst: '10.77.0.12' }, ['h1: fdb 00:00:00:00:00:00 on nv-0123abcdef01 dst 10.77.0.12']],
    ['reports an entry under a leaked bridge', { mac: 'aa:bb:cc:dd:ee:ff', ifname: 'x1', master: 'nb-0123abcdef01' }, ['h1: fdb aa:bb:cc:dd:ee:ff on x1 master nb-0123abcdef01']],
    ['reports a port MAC on any device', { mac: MAC, ifname: 'ul0', dst: '10.77.0.13' }, [`h1: fdb ${MAC} on ul0 dst 10.77.0.13`]],
    ['ignores a foreign entry', { mac: '33:33:00:00:00:01', ifname: 'ul0' }, []],
  ])('%s', (_what, entry, expected) => {
    expect(fdbLeaks('h1', JSON.stringify([entry]), names)).toEqual(expected);
  });
});

describe('nftLeaks', () => {
  // The shape of nft 1.0.6's `nft -j list ruleset` for the firewall's tables.
  const ruleset = (portHex: string, bridge: string) => JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'bridge', name: 'nubo_sg', handle: 1 } },
      { map: { family: 'bridge', name: 'from_port', table: 'nubo_sg', type: 'ifname', map: 'verdict', elem: [[`nt-${portHex.slice(0, 12)}`, { jump: { target: `o_${portHex}` } }]] } },
      { chain: { family: 'bridge', table: 'nubo_sg', name: `o_${portHex}`, handle: 1 } },
      { chain: { family: 'bridge', table: 'nubo_sg', name: 'from_ports', handle: 2, hook: 'prerouting' } },
      { rule: { family: 'bridge', table: 'nubo_sg', chain: 'from_ports', expr: [{ vmap: { key: { meta: { key: 'iifname' } }, data: '@from_port' } }] } },
      { rule: { family: 'inet', table: 'nubo_sg', chain: 'zones', expr: [{ mangle: { value: { map: { data: { set: [[bridge, 5]] } } } } }] } },
    ],
  });

  it('names the map holding the tap, the port chain and the zone rule of the bridge', () => {
    expect(nftLeaks('h2', ruleset(PORT_HEX, 'nb-0123abcdef01'), names)).toEqual([
      'h2: nft map bridge nubo_sg from_port names fedcba98765443218fedcba987654321, nt-fedcba987654',
      'h2: nft chain bridge nubo_sg o_fedcba98765443218fedcba987654321 names fedcba98765443218fedcba987654321',
      'h2: nft rule inet nubo_sg in chain zones names nb-0123abcdef01',
    ]);
  });

  it('finds nothing in the tables of other ports and networks, or in an empty ruleset', () => {
    expect(nftLeaks('h2', ruleset('11112222333344445555666677778888', 'nb-999999999999'), names)).toEqual([]);
    expect(nftLeaks('h2', JSON.stringify({ nftables: [{ metainfo: {} }] }), names)).toEqual([]);
  });
});

describe('namespaceLeaks', () => {
  it('reads `ip netns list` lines with and without ids', () => {
    const text = [`nubo-e2e-qrouter-${ROUTER} (id: 7)`, 'nubo-e2e-qdhcp-0123abcdef01', 'nubo-e2e-qdhcp-999999999999 (id: 3)', 'nubo-e2e-h1', ''].join('\n');
    expect(namespaceLeaks(text, names)).toEqual([`netns nubo-e2e-qrouter-${ROUTER}`, 'netns nubo-e2e-qdhcp-0123abcdef01']);
  });
});

describe('dnsmasqLeaks', () => {
  const pidFile = (ns: string) => `--pid-file=/tmp/s/network/${ns}/dnsmasq.pid`;
  it.each([
    ['reports a dnsmasq of a leaked network', { pid: 5, argv: ['/usr/sbin/dnsmasq', '--no-hosts', pidFile('nubo-e2e-qdhcp-0123abcdef01')] }, ['dnsmasq pid 5 of nubo-e2e-qdhcp-0123abcdef01']],
    ['ignores a dnsmasq of another network', { pid: 6, argv: ['dnsmasq', pidFile('nubo-e2e-qdhcp-999999999999')] }, []],
    ['ignores another program naming the namespace', { pid: 7, argv: ['ip', 'netns', 'exec', 'nubo-e2e-qdhcp-0123abcdef01', 'sh'] }, []],
  ])('%s', (_what, proc, expected) => {
    expect(dnsmasqLeaks([proc], names)).toEqual(expected);
  });
});
