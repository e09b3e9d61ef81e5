import { ValidationError } from '@nubo/contracts';
import { DhcpNaming } from './dhcp-names';
import { DesiredDhcpNetwork } from './dhcp-types';
import { planNetwork } from './dhcp-values';
import { PORT_1, SUBNET_A, desiredNetwork } from './dhcp-fixtures';
import { renderHosts, renderOpts } from './dnsmasq-config';

const naming = new DhcpNaming();
const subnet = desiredNetwork().subnets[0];
const withLease = (mac: unknown, ipAddress: unknown, portId: unknown = PORT_1) => desiredNetwork({ leases: [{ portId, mac, ipAddress } as never] });
const withSubnet = (patch: object) => desiredNetwork({ subnets: [{ ...subnet, ...patch }] });

function fieldOf(network: DesiredDhcpNetwork): string | undefined {
  try {
    planNetwork(network, naming);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details.field as string;
  }
}

describe(planNetwork.name, () => {
  describe('hostile or malformed input is refused, naming the field', () => {
    it.each<[string, DesiredDhcpNetwork, string]>([
      ['a MAC with a newline and a second host line', withLease('fa:16:3e:00:00:01\nff:ff:ff:ff:ff:ff,10.0.0.9', '10.0.0.5'), 'leases[0].mac'],
      ['a MAC with a comma', withLease('fa:16:3e:00:00:01,set:evil', '10.0.0.5'), 'leases[0].mac'],
      ['a multicast MAC', withLease('01:00:5e:00:00:01', '10.0.0.5'), 'leases[0].mac'],
      ['a MAC that is not a string', withLease(42, '10.0.0.5'), 'leases[0].mac'],
      ['an IP with a comment', withLease('fa:16:3e:00:00:01', '10.0.0.5#x'), 'leases[0].ipAddress'],
      ['an IP with a newline', withLease('fa:16:3e:00:00:01', '10.0.0.5\ndhcp-range=0.0.0.0'), 'leases[0].ipAddress'],
      ['an IP with a leading zero', withLease('fa:16:3e:00:00:01', '10.0.0.05'), 'leases[0].ipAddress'],
      ['a port id with a comma', withLease('fa:16:3e:00:00:01', '10.0.0.5', 'x,y'), 'leases[0].portId'],
      ['a gateway with a comma', withSubnet({ gatewayIp: '10.0.0.1,8.8.8.8' }), 'subnets[0].gatewayIp'],
      ['a DNS server with a newline', withSubnet({ dnsNameservers: ['1.1.1.1\ntag:x,option:router,6.6.6.6'] }), 'subnets[0].dnsNameservers[0]'],
      ['six DNS servers', withSubnet({ dnsNameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5', '1.1.1.6'] }), 'subnets[0].dnsNameservers'],
      ['a route destination with a hash', withSubnet({ hostRoutes: [{ destination: '10.9.0.0/16#', nexthop: '10.0.0.1' }] }), 'subnets[0].hostRoutes[0].destination'],
      ['a route nexthop with a comma', withSubnet({ hostRoutes: [{ destination: '10.9.0.0/16', nexthop: '10.0.0.1,0.0.0.0/0' }] }), 'subnets[0].hostRoutes[0].nexthop'],
      ['a CIDR with a comma', withSubnet({ cidr: '10.0.0.0/24,static' }), 'subnets[0].cidr'],
      ['a /31 subnet', withSubnet({ cidr: '10.0.0.0/31' }), 'subnets[0].cidr'],
      ['an IPv6 subnet', withSubnet({ cidr: 'fd00::/64' }), 'subnets[0].cidr'],
      ['a subnet id that is no UUID', withSubnet({ id: 'subnet,set:x' }), 'subnets[0].id'],
      ['a network id with a slash', desiredNetwork({ networkId: '../../etc' }), 'networkId'],
      ['a bridge with a space', desiredNetwork({ bridge: 'br0 up' }), 'bridge'],
      ['a bridge namespace starting with a dash', desiredNetwork({ bridgeNetns: '-all' }), 'bridgeNetns'],
      ['an MTU of 65536', desiredNetwork({ mtu: 65536 }), 'mtu'],
      ['a DHCP port MAC with a newline', desiredNetwork({ dhcpPort: { id: PORT_1, mac: 'fa:16:3e:00:00:0d\n', ipAddresses: ['10.0.0.2'] } }), 'dhcpPort.mac'],
      ['a DHCP port with no address in a served subnet', desiredNetwork({ dhcpPort: { id: PORT_1, mac: 'fa:16:3e:00:00:0d', ipAddresses: ['10.1.0.2'] } }), 'dhcpPort.ipAddresses'],
      ['one IP leased to two MACs', desiredNetwork({ leases: [
        { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '10.0.0.5' },
        { portId: PORT_1, mac: 'fa:16:3e:00:00:02', ipAddress: '10.0.0.5' },
      ] }), 'leases[1].ipAddress'],
    ])('%s', (_name, network, field) => expect(fieldOf(network)).toBe(field));
  });

  it('prints values again in canonical form and names hosts from their address', () => {
    const plan = planNetwork(desiredNetwork({
      subnets: [{ ...subnet, cidr: '10.0.0.77/24', hostRoutes: [{ destination: '10.9.8.7/16', nexthop: '10.0.0.254' }] }],
      leases: [{ portId: PORT_1.toUpperCase(), mac: 'FA:16:3E:AB:CD:EF', ipAddress: '10.0.0.9' }],
    }), naming);
    expect(plan.subnets[0]).toMatchObject({ id: SUBNET_A, cidr: { prefix: 24 }, routes: [{ destination: '10.9.0.0/16', nexthop: '10.0.0.254' }] });
    expect(plan.hosts).toEqual([{ mac: 'fa:16:3e:ab:cd:ef', ip: '10.0.0.9', hostname: 'host-10-0-0-9' }]);
    expect(plan.addresses).toEqual(['10.0.0.2/24']);
    expect(plan.portMac).toBe('fa:16:3e:00:00:0d');
  });

  it('leaves out leases outside the served subnets and the DHCP port own address', () => {
    const plan = planNetwork(desiredNetwork({ leases: [
      { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '192.168.1.5' },
      { portId: PORT_1, mac: 'fa:16:3e:00:00:0d', ipAddress: '10.0.0.2' },
      { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '10.0.0.5' },
      { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '10.0.0.5' },
    ] }), naming);
    expect(plan.hosts.map((h) => h.ip)).toEqual(['10.0.0.5']);
  });

  it('serves no subnet when none has DHCP enabled', () => {
    expect(planNetwork(withSubnet({ enableDhcp: false }), naming).subnets).toEqual([]);
  });

  it('never writes a line break, "#" or an extra field from any accepted input', () => {
    const plan = planNetwork(desiredNetwork(), naming);
    for (const line of renderHosts(plan).trimEnd().split('\n')) expect(line).toMatch(/^[0-9a-f:]{17},host-[0-9-]+,[0-9.]+$/);
    for (const line of renderOpts(plan).trimEnd().split('\n')) expect(line).toMatch(/^tag:subnet-[0-9a-f-]{36},[a-z0-9:-]+(,[0-9./]+)*$/);
  });
});
