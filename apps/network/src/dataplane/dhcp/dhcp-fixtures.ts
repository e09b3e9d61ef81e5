/** Test support: a desired network to vary in unit specs. */
import { DesiredDhcpNetwork } from './dhcp-types';

export const NETWORK_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const SUBNET_A = '11111111-1111-4111-8111-111111111111';
export const SUBNET_B = '22222222-2222-4222-8222-222222222222';
export const SUBNET_C = '33333333-3333-4333-8333-333333333333';
export const PORT_1 = 'aaaaaaaa-0000-4000-8000-000000000001';
export const PORT_2 = 'aaaaaaaa-0000-4000-8000-000000000002';
export const DHCP_PORT = 'dddddddd-0000-4000-8000-00000000000d';

export function desiredNetwork(overrides: Partial<DesiredDhcpNetwork> = {}): DesiredDhcpNetwork {
  return {
    networkId: NETWORK_ID,
    mtu: 1450,
    bridge: 'nb-0a1b2c3d4e5f',
    dhcpPort: { id: DHCP_PORT, mac: 'FA:16:3E:00:00:0D', ipAddresses: ['10.0.0.2'] },
    subnets: [{ id: SUBNET_A, cidr: '10.0.0.0/24', gatewayIp: '10.0.0.1', dnsNameservers: ['192.0.2.53'], hostRoutes: [], enableDhcp: true }],
    leases: [
      { portId: PORT_2, mac: 'fa:16:3e:00:00:02', ipAddress: '10.0.0.6' },
      { portId: PORT_1, mac: 'FA:16:3E:00:00:01', ipAddress: '10.0.0.5' },
    ],
    ...overrides,
  };
}
