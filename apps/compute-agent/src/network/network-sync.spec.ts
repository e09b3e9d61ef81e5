import { HostNetworkState } from '@nubo/contracts';
import { PortFirewallSpec } from './firewall';
import { DesiredDataPlane, bridgeName, tapName } from '@nubo/netlinks';
import { NetworkSync, desiredLinks, firewallSpec } from './network-sync';

const NET_A = '11111111-1111-4111-8111-111111111111';
const NET_B = '22222222-2222-4222-8222-222222222222';
const PORT_A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const PORT_B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

const state = (): HostNetworkState => ({
  networks: [
    { id: NET_A, type: 'vxlan', segmentationId: 1001, mtu: 1450, peers: ['10.77.0.2'] },
    { id: NET_B, type: 'flat', mtu: 1500, physicalNetwork: 'physnet9', peers: [] },
  ],
  ports: [
    {
      id: PORT_A,
      networkId: NET_A,
      mac: 'fa:16:3e:00:00:01',
      fixedIps: ['10.0.0.5'],
      allowedAddressPairs: [{ ipAddress: '10.0.0.100' }],
      portSecurityEnabled: true,
      rules: [{ direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: '0.0.0.0/0' }],
    },
    { id: PORT_B, networkId: NET_B, mac: 'fa:16:3e:00:00:02', fixedIps: [], allowedAddressPairs: [], portSecurityEnabled: false, rules: [] },
  ],
});
const host = { underlayAddress: '10.77.0.1', tapOwner: 'nubo-qemu', physicalInterfaces: {} as Record<string, string> };

describe('desiredLinks', () => {
  it('carries vxlan networks with their peers and refuses a flat network whose physical network is not mapped', () => {
    const { desired, refused } = desiredLinks(state(), host);
    expect(desired).toEqual({
      underlayAddress: '10.77.0.1',
      underlayDevice: undefined,
      tapOwner: 'nubo-qemu',
      networks: [{ id: NET_A, type: 'vxlan', segmentationId: 1001, mtu: 1450, peers: ['10.77.0.2'] }],
      ports: [{ id: PORT_A, networkId: NET_A, mac: 'fa:16:3e:00:00:01' }],
    });
    expect(refused).toEqual([{ networkId: NET_B, reason: 'physical network physnet9 is not mapped to an interface on this host' }]);
  });

  it('bridges a flat network to the interface its physical network maps to', () => {
    const { desired, refused } = desiredLinks(state(), { ...host, physicalInterfaces: { physnet9: 'veth-ext' } });
    expect(refused).toEqual([]);
    expect(desired.networks[1]).toEqual({ id: NET_B, type: 'flat', segmentationId: undefined, mtu: 1500, physicalInterface: 'veth-ext' });
    expect(desired.ports.map((p) => p.id)).toEqual([PORT_A, PORT_B]);
  });
});

describe('firewallSpec', () => {
  it("names the port's tap and bridge as the data plane does and keeps Neutron's rule fields", () => {
    expect(firewallSpec(state().ports[0])).toEqual({
      portId: PORT_A,
      tap: tapName(PORT_A),
      bridge: bridgeName(NET_A),
      mac: 'fa:16:3e:00:00:01',
      fixedIps: ['10.0.0.5'],
      allowedAddressPairs: [{ ip_address: '10.0.0.100', mac_address: null }],
      portSecurityEnabled: true,
      rules: [
        { direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0', remote_group_prefixes: null },
      ],
    });
  });
});

describe(NetworkSync.name, () => {
  function fakes(o: { linkError?: Error } = {}) {
    const calls: string[] = [];
    const links = {
      async converge(desired: DesiredDataPlane) {
        calls.push(`links:${desired.ports.length}`);
        if (o.linkError) throw o.linkError;
        return { ops: [{ op: 'create-bridge' as const, name: bridgeName(NET_A) }], refused: [] };
      },
    };
    const firewall = {
      async apply(specs: PortFirewallSpec[]) {
        calls.push(`firewall:${specs.length}`);
        return {
          outcomes: specs.map((s) => ({ portId: s.portId, tap: s.tap, status: s.portSecurityEnabled ? ('blocked' as const) : ('open' as const), error: { message: 'rules[0]: bad' } })),
          chains: [],
          text: '',
          loadMs: 1,
        };
      },
    };
    return { calls, sync: new NetworkSync(links, firewall as never, host) };
  }

  it('converges the links, then loads every port into the firewall, and reports refused networks and blocked ports', async () => {
    const { calls, sync } = fakes();
    await expect(sync.sync(state())).resolves.toEqual({
      linkOps: 1,
      refusedNetworks: [{ networkId: NET_B, reason: 'physical network physnet9 is not mapped to an interface on this host' }],
      blockedPorts: [{ portId: PORT_A, reason: 'rules[0]: bad' }],
    });
    expect(calls).toEqual(['links:1', 'firewall:2']);
  });

  it('still loads the firewall when a link operation fails, then reports the failure', async () => {
    const { calls, sync } = fakes({ linkError: new Error('ip link add nb-x: File exists') });
    await expect(sync.sync(state())).rejects.toThrow('File exists');
    expect(calls).toEqual(['links:1', 'firewall:2']);
  });

  it('runs syncs one at a time, in arrival order', async () => {
    const { calls, sync } = fakes();
    await Promise.all([sync.sync(state()), sync.sync({ networks: [], ports: [] })]);
    expect(calls).toEqual(['links:1', 'firewall:2', 'links:0', 'firewall:0']);
  });
});
