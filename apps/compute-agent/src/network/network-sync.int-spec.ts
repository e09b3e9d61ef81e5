/**
 * The agent's network sync against a real kernel: one namespaced host (nbt-s-<pid>) with an
 * underlay veth, the real HostLinks and NftFirewall behind NetworkOps' NetworkSync. A state with
 * a VXLAN network and a port makes the bridge, the VXLAN device with its peer, the tap in the
 * bridge and the port's firewall chains; the same state again changes nothing; an empty state
 * leaves nothing behind. Needs root, ip and nft; everything is removed in afterAll.
 */
import { HostNetworkState } from '@nubo/contracts';
import { execFileSync, spawnSync } from 'node:child_process';
import { NftFirewall } from './firewall';
import { HostLinks, bridgeName, tapName, vxlanName } from '@nubo/netlinks';
import { NetworkSync } from './network-sync';

const usable = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('ip', ['-V']).status === 0;
const describeLab = usable ? describe : describe.skip;
if (!usable) console.warn('network-sync.int-spec skipped: needs root, ip and nft');

const NS = `nbt-s-${process.pid}`;
const NETWORK = '5a1f0000-0000-4000-8000-00000000a001';
const PORT = '5a1f0000-0000-4000-8000-00000000b001';
const sh = (file: string, args: string[]) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const state: HostNetworkState = {
  networks: [{ id: NETWORK, type: 'vxlan', segmentationId: 4242, mtu: 1450, peers: ['10.81.0.2'] }],
  ports: [
    {
      id: PORT,
      networkId: NETWORK,
      mac: 'fa:16:3e:81:00:01',
      fixedIps: ['10.0.0.5'],
      allowedAddressPairs: [],
      portSecurityEnabled: true,
      rules: [{ direction: 'egress', ethertype: 'IPv4' }],
    },
  ],
};

describeLab(NetworkSync.name, () => {
  let links: HostLinks;
  let firewall: NftFirewall;
  let sync: NetworkSync;

  beforeAll(() => {
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['-n', NS, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0p']);
    sh('ip', ['-n', NS, 'addr', 'add', '10.81.0.1/24', 'dev', 'ul0']);
    for (const dev of ['lo', 'ul0', 'ul0p']) sh('ip', ['-n', NS, 'link', 'set', dev, 'up']);
    links = new HostLinks({ netns: NS });
    firewall = new NftFirewall({ netns: NS });
    sync = new NetworkSync(links, firewall, { underlayAddress: '10.81.0.1', physicalInterfaces: {}, prepare: () => firewall.prepareHost() });
  });

  afterAll(() => {
    spawnSync('ip', ['netns', 'delete', NS]);
  });

  it('builds the network and the port, with its rules, and then changes nothing', async () => {
    await expect(sync.sync(state)).resolves.toMatchObject({ refusedNetworks: [], blockedPorts: [] });
    const tap = JSON.parse(sh('ip', ['-n', NS, '-j', 'link', 'show', tapName(PORT)]))[0];
    expect(tap).toMatchObject({ master: bridgeName(NETWORK), mtu: 1450 });
    const vxlan = JSON.parse(sh('ip', ['-n', NS, '-j', '-d', 'link', 'show', vxlanName(NETWORK)]))[0];
    expect(vxlan).toMatchObject({ master: bridgeName(NETWORK), linkinfo: { info_kind: 'vxlan', info_data: { id: 4242 } } });
    expect(sh('bridge', ['-n', NS, 'fdb', 'show', 'dev', vxlanName(NETWORK)])).toMatch(/00:00:00:00:00:00 dst 10\.81\.0\.2/);
    const hex = PORT.replace(/-/g, '');
    expect(sh('ip', ['netns', 'exec', NS, 'nft', 'list', 'table', 'bridge', 'nubo_sg'])).toContain(`o_${hex}`);
    await expect(sync.sync(state)).resolves.toMatchObject({ linkOps: 0 });
  });

  it('removes everything of ours when the state is empty', async () => {
    await expect(sync.sync({ networks: [], ports: [] })).resolves.toMatchObject({ linkOps: expect.any(Number) });
    expect(await links.leaks()).toEqual([]);
    expect(await firewall.drift([])).toMatchObject({ leaked: [] });
    expect(JSON.parse(sh('ip', ['-n', NS, '-j', 'link', 'show'])).map((l: { ifname: string }) => l.ifname).sort()).toEqual(['lo', 'ul0', 'ul0p']);
  });
});
