import { routerLinkNames } from './router-names';
import { RouterSpec, validateRouter } from './router-spec';
import { GATEWAY_PORT, INTERNAL_PORT, ROUTER_ID, SECOND_PORT, routerSpec } from './router-test-fixtures';

const validate = (spec: RouterSpec) => validateRouter(spec, { namespacePrefix: 'qrouter-' });

describe(validateRouter.name, () => {
  it('derives names from ids and re-prints every value', () => {
    const result = validate(routerSpec({ floatingIps: [{ floatingIp: '203.0.113.21', fixedIp: '10.80.0.6' }, { floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }] }));
    expect(result).toEqual({
      ok: true,
      plan: {
        routerId: ROUTER_ID, namespace: `qrouter-${ROUTER_ID}`,
        internal: [{ name: 'qr-b1b2c3d4111', peer: 'nrq-b1b2c3d4111', mac: 'fa:16:3e:00:00:01', bridge: 'nb-net1', mtu: 1450, addresses: ['10.80.0.1/24'] }],
        gateway: {
          name: 'qg-c1c2c3d4222', peer: 'nrg-c1c2c3d4222', mac: 'fa:16:3e:00:00:ff', bridge: 'br-ext', address: '203.0.113.10', nextHop: '203.0.113.1',
          enableSnat: true, addresses: ['203.0.113.10/24', '203.0.113.20/32', '203.0.113.21/32'],
        },
        internalNetworks: ['10.80.0.0/24'],
        floatingIps: [{ floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }, { floatingIp: '203.0.113.21', fixedIp: '10.80.0.6' }],
      },
    });
  });

  it('accepts a router with interfaces and no gateway, and one with no default route', () => {
    expect(validate(routerSpec({ gateway: null })).ok).toBe(true);
    const noHop = validate(routerSpec({ gateway: { ...routerSpec().gateway!, nextHop: null } }));
    expect(noHop.ok && noHop.plan.gateway?.nextHop).toBeUndefined();
  });

  it('fits interface names in 15 characters', () => {
    for (const kind of ['internal', 'gateway'] as const) {
      const names = routerLinkNames(kind, INTERNAL_PORT);
      expect([names.name.length, names.peer.length].every((n) => n <= 15)).toBe(true);
    }
  });

  const base = routerSpec();
  const itf = base.interfaces[0];
  const gw = base.gateway!;
  it.each<[string, RouterSpec, string]>([
    ['router id', { ...base, routerId: 'router-1' }, 'routerId'],
    ['port id', { ...base, interfaces: [{ ...itf, portId: 'x' }] }, 'interfaces[0].portId'],
    ['port used twice', { ...base, gateway: { ...gw, portId: INTERNAL_PORT } }, 'gateway.portId'],
    ['MAC', { ...base, interfaces: [{ ...itf, mac: 'fa:16:3e:00:00:01" accept' }] }, 'interfaces[0].mac'],
    ['multicast MAC', { ...base, gateway: { ...gw, mac: '01:00:5e:00:00:01' } }, 'gateway.mac'],
    ['bridge name', { ...base, interfaces: [{ ...itf, bridge: 'br0 master x' }] }, 'interfaces[0].bridge'],
    ['bridge namespace', { ...base, interfaces: [{ ...itf, bridgeNetns: '../../proc' }] }, 'interfaces[0].bridgeNetns'],
    ['no subnet', { ...base, interfaces: [{ ...itf, cidrs: [] }] }, 'interfaces[0].cidrs'],
    ['subnet cidr', { ...base, interfaces: [{ ...itf, cidrs: ['10.80.0.1'] }] }, 'interfaces[0].cidrs[0]'],
    ['subnet twice', { ...base, interfaces: [itf, { ...itf, portId: SECOND_PORT, cidrs: ['10.80.0.254/24'] }] }, 'interfaces[1].cidrs'],
    ['mtu', { ...base, interfaces: [{ ...itf, mtu: 9 }] }, 'interfaces[0].mtu'],
    ['gateway cidr', { ...base, gateway: { ...gw, cidr: '203.0.113.10/40' } }, 'gateway.cidr'],
    ['next hop off the subnet', { ...base, gateway: { ...gw, nextHop: '198.51.100.1' } }, 'gateway.nextHop'],
    ['enable_snat', { ...base, gateway: { ...gw, enableSnat: 'yes' as unknown as boolean } }, 'gateway.enableSnat'],
    ['floating address', { ...base, floatingIps: [{ floatingIp: '203.0.113.x', fixedIp: '10.80.0.5' }] }, 'floatingIps[0].floatingIp'],
    ['floating = gateway address', { ...base, floatingIps: [{ floatingIp: '203.0.113.10', fixedIp: '10.80.0.5' }] }, 'floatingIps[0].floatingIp'],
    ['fixed address off the subnets', { ...base, floatingIps: [{ floatingIp: '203.0.113.20', fixedIp: '10.99.0.5' }] }, 'floatingIps[0].fixedIp'],
    ['fixed address twice', { ...base, floatingIps: [{ floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }, { floatingIp: '203.0.113.21', fixedIp: '10.80.0.5' }] }, 'floatingIps[1].fixedIp'],
    ['floating IPs with no gateway', { ...base, gateway: null, floatingIps: [{ floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }] }, 'floatingIps'],
  ])('rejects a bad %s naming the field', (_what, spec, field) => {
    const result = validate(spec);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.field).toBe(field);
  });

  it('keeps the router id of a rejected spec for the report', () => {
    const result = validate({ ...base, gateway: { ...gw, portId: GATEWAY_PORT, cidr: 'x' } });
    expect(!result.ok && result.routerId).toBe(ROUTER_ID);
  });
});
