/** Specs shared by the router data plane's unit tests (not used by the service). */
import { RouterSpec } from './router-spec';

export const ROUTER_ID = 'a1b2c3d4-0000-4000-8000-000000000001';
export const INTERNAL_PORT = 'b1b2c3d4-1111-4111-8111-000000000001';
export const SECOND_PORT = 'b5b6b7b8-1111-4111-8111-000000000002';
export const GATEWAY_PORT = 'c1c2c3d4-2222-4222-8222-000000000003';

export function routerSpec(overrides: Partial<RouterSpec> = {}): RouterSpec {
  return {
    routerId: ROUTER_ID,
    interfaces: [{ portId: INTERNAL_PORT, mac: 'FA:16:3E:00:00:01', bridge: 'nb-net1', cidrs: ['10.80.0.1/24'], mtu: 1450 }],
    gateway: { portId: GATEWAY_PORT, mac: 'fa:16:3e:00:00:ff', bridge: 'br-ext', cidr: '203.0.113.10/24', nextHop: '203.0.113.1', enableSnat: true },
    floatingIps: [],
    ...overrides,
  };
}
