/**
 * Routers against a real kernel. Namespace `<p>-br` holds two bridges: `br-ext` with `<p>-ext`
 * (203.0.113.1/24, the internet: it has NO route to the tenant subnet) and `br-t` with `<p>-vm`
 * (10.80.0.5/24, default route via the router's 10.80.0.1). The router under test joins them.
 * Servers in ext and in the VM answer with the peer address they see. Needs root and nft; every
 * namespace starts with nbt-r-<pid> and is deleted in afterAll.
 */
import { ROUTER_NFT_TABLE } from './router-names';
import { RouterDataplane } from './router-dataplane';
import { PeerServer, canRunLab, deleteNamespaces, namespacesWith, plugHost, quietNamespace, sh, startServer, stopServer, tcpAsk, udpAsk } from './router-lab';
import { RouterSpec } from './router-spec';

const usable = canRunLab();
const describeLab = usable ? describe : describe.skip;
if (!usable) console.warn('router-dataplane.int-spec skipped: needs root and nft');

const P = `nbt-r-${process.pid}`;
const BR = `${P}-br`;
const EXT = `${P}-ext`;
const VM = `${P}-vm`;
const VM2 = `${P}-vm2`;
const PREFIX = `${P}-qr-`;
const ROUTER_ID = '5e1f0000-aaaa-4bbb-8ccc-000000000001';
const NS = `${PREFIX}${ROUTER_ID}`;
const PORT = 7000;

function router(o: { enableSnat?: boolean; floating?: boolean; external?: string } = {}): RouterSpec {
  return {
    routerId: ROUTER_ID,
    interfaces: [{ portId: '5e1f0000-aaaa-4bbb-8ccc-00000000000a', mac: 'fa:16:3e:80:00:01', bridge: 'br-t', bridgeNetns: BR, cidrs: ['10.80.0.1/24'], mtu: 1450 }],
    gateway: {
      portId: '5e1f0000-aaaa-4bbb-8ccc-00000000000b', mac: 'fa:16:3e:71:00:0a', bridge: 'br-ext', bridgeNetns: BR,
      cidr: `${o.external ?? '203.0.113.10'}/24`, nextHop: '203.0.113.1', enableSnat: o.enableSnat ?? true,
    },
    floatingIps: o.floating ? [{ floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }] : [],
  };
}

describeLab(`${RouterDataplane.name} on a real kernel`, () => {
  const dataplane = new RouterDataplane({ namespacePrefix: PREFIX });
  let extServer: PeerServer | undefined;
  let vmServer: PeerServer | undefined;

  beforeAll(async () => {
    deleteNamespaces(P);
    quietNamespace(BR);
    for (const bridge of ['br-ext', 'br-t']) {
      sh('ip', ['-n', BR, 'link', 'add', bridge, 'type', 'bridge']);
      sh('ip', ['-n', BR, 'link', 'set', 'dev', bridge, 'up']);
    }
    plugHost({ ns: EXT, bridgeNs: BR, bridge: 'br-ext', hostSide: 'h-ext', cidr: '203.0.113.1/24' });
    plugHost({ ns: VM, bridgeNs: BR, bridge: 'br-t', hostSide: 'h-vm', cidr: '10.80.0.5/24', via: '10.80.0.1' });
    plugHost({ ns: VM2, bridgeNs: BR, bridge: 'br-t', hostSide: 'h-vm2', cidr: '10.80.0.6/24', via: '10.80.0.1' });
    for (const ns of [VM, VM2]) sh('ip', ['-n', ns, 'link', 'set', 'dev', 'eth0', 'mtu', '1450']);
    extServer = await startServer(EXT, 'ext-saw', PORT);
    vmServer = await startServer(VM, 'vm-saw', PORT);
  });

  afterAll(async () => {
    await stopServer(extServer);
    await stopServer(vmServer);
    deleteNamespaces(P);
  });

  it('routes the VM out with SNAT to the router address, and a second sync changes nothing', async () => {
    expect(await dataplane.sync([router()])).toEqual({ applied: [ROUTER_ID], unchanged: [], invalid: [], failed: [], removed: [] });
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('ext-saw 203.0.113.10');
    expect(sh('ip', ['netns', 'exec', NS, 'sysctl', '-n', 'net.ipv4.ip_forward']).trim()).toBe('1');
    expect(sh('ip', ['netns', 'exec', NS, 'nft', 'list', 'table', 'ip', ROUTER_NFT_TABLE])).toContain('snat to 203.0.113.10');
    expect(sh('ip', ['-n', BR, '-json', 'link', 'show', 'master', 'br-t'])).toContain('nrq-5e1f0000aaa');
    expect(await tcpAsk(EXT, '10.80.0.5', PORT)).toBe(''); // the internet has no route inside
    expect(await dataplane.sync([router()])).toMatchObject({ applied: [], unchanged: [ROUTER_ID] });
  });

  it('follows a changed external address and repairs a peer taken off its bridge', async () => {
    sh('ip', ['-n', BR, 'link', 'set', 'dev', 'nrq-5e1f0000aaa', 'nomaster']);
    expect(await dataplane.sync([router({ external: '203.0.113.11' })])).toMatchObject({ applied: [ROUTER_ID] });
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('ext-saw 203.0.113.11');
    expect(await dataplane.sync([router()])).toMatchObject({ applied: [ROUTER_ID] });
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('ext-saw 203.0.113.10');
    expect(sh('ip', ['-n', NS, '-json', 'addr', 'show'])).not.toContain('203.0.113.11');
  });

  it('makes the VM reachable at its floating address, and seen from it', async () => {
    expect(await dataplane.sync([router({ floating: true })])).toMatchObject({ applied: [ROUTER_ID] });
    expect(await tcpAsk(EXT, '203.0.113.20', PORT)).toBe('vm-saw 203.0.113.1');
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('ext-saw 203.0.113.20');
    expect(await udpAsk(VM, '203.0.113.1', PORT + 1)).toBe('ext-saw 203.0.113.20');
    // Hairpin: a neighbour reaches it at the floating address too, seen as the router's inside address.
    expect(await tcpAsk(VM2, '203.0.113.20', PORT)).toBe('vm-saw 10.80.0.1');
  });

  it('no longer lets ext reach the VM once the floating IP is disassociated', async () => {
    expect(await dataplane.sync([router()])).toMatchObject({ applied: [ROUTER_ID] });
    expect(await tcpAsk(EXT, '203.0.113.20', PORT)).toBe('');
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('ext-saw 203.0.113.10');
    expect(sh('ip', ['-n', NS, '-json', 'addr', 'show'])).not.toContain('203.0.113.20');
  });

  it('lets the VM traffic leave with its own address when SNAT is disabled (and no answer comes back)', async () => {
    expect(await dataplane.sync([router({ enableSnat: false })])).toMatchObject({ applied: [ROUTER_ID] });
    const before = extServer!.output();
    expect(await udpAsk(VM, '203.0.113.1', PORT + 1)).toBe('');
    expect(extServer!.output().slice(before.length)).toContain('udp 10.80.0.5');
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('');
    // A floating IP still translates both ways without the router's SNAT.
    await dataplane.sync([router({ enableSnat: false, floating: true })]);
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('ext-saw 203.0.113.20');
    expect(await tcpAsk(EXT, '203.0.113.20', PORT)).toBe('vm-saw 203.0.113.1');
  });

  it('leaves a router with a rejected spec as it was, naming the field', async () => {
    const bad = router({ floating: true });
    bad.floatingIps = [{ floatingIp: '203.0.113.20; flush ruleset', fixedIp: '10.80.0.5' }];
    const result = await dataplane.sync([bad]);
    expect(result).toMatchObject({ applied: [], removed: [], invalid: [{ routerId: ROUTER_ID, field: 'floatingIps[0].floatingIp' }] });
    expect(await tcpAsk(EXT, '203.0.113.20', PORT)).toBe('vm-saw 203.0.113.1');
  });

  it('removes the router, a stray namespace of ours too, from a restarted service, leaving nothing', async () => {
    const stray = `${PREFIX}00000000-0000-4000-8000-00000000dead`;
    sh('ip', ['netns', 'add', stray]);
    const restarted = new RouterDataplane({ namespacePrefix: PREFIX });
    expect((await restarted.findLeaks([router()], { peerNamespaces: [BR] })).namespaces).toEqual([stray]);
    const result = await restarted.sync([]);
    expect(result.removed.sort()).toEqual([stray, NS].sort());
    expect(await restarted.findLeaks([], { peerNamespaces: [BR] })).toEqual({ namespaces: [], links: [], peers: [] });
    expect(namespacesWith(PREFIX)).toEqual([]);
    expect(sh('ip', ['-n', BR, '-o', 'link', 'show'])).not.toMatch(/nr[qg]-/);
    expect(await tcpAsk(VM, '203.0.113.1', PORT)).toBe('');
  });
});
