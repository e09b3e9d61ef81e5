import { errorOf } from '../common/error-of';
import { formatIp } from '../common/ipv4';
import { parseSubnetCreate, parseSubnetUpdate, parseCidr } from './subnet-body';

const caller = { projectId: 'p1', isAdmin: false };
const NET = '6f9d2a55-7f3a-4b8e-9a59-1d5c1a0e0b11';
const create = (extra: Record<string, unknown>) => parseSubnetCreate({ subnet: { network_id: NET, ip_version: 4, cidr: '10.0.0.0/24', ...extra } }, caller);
const pools = (s: { pools: Array<{ first: number; last: number }> }) => s.pools.map((p) => `${formatIp(p.first)}-${formatIp(p.last)}`);

describe('parseSubnetCreate', () => {
  it('defaults the gateway to the first address and the pool to the rest', () => {
    const s = create({});
    expect(formatIp(s.gateway!)).toBe('10.0.0.1');
    expect(pools(s)).toEqual(['10.0.0.2-10.0.0.254']);
    expect(s.enableDhcp).toBe(true);
    expect(s.dnsNameservers).toEqual([]);
  });

  it.each([
    ['no gateway', { gateway_ip: null }, null, ['10.0.0.1-10.0.0.254']],
    ['a gateway in the middle', { gateway_ip: '10.0.0.100' }, '10.0.0.100', ['10.0.0.1-10.0.0.99', '10.0.0.101-10.0.0.254']],
    ['given pools', { allocation_pools: [{ start: '10.0.0.50', end: '10.0.0.60' }, { start: '10.0.0.10', end: '10.0.0.20' }] }, '10.0.0.1',
      ['10.0.0.50-10.0.0.60', '10.0.0.10-10.0.0.20']],
  ])('takes %s', (_name, extra, gateway, want) => {
    const s = create(extra);
    expect(s.gateway === null ? null : formatIp(s.gateway)).toBe(gateway);
    expect(pools(s)).toEqual(want);
  });

  it.each([
    ['IPv6', { ip_version: 6, cidr: 'fd00::/64' }, 'ip_version', /IPv6 subnets are not supported/],
    ['ip_version 5', { ip_version: 5 }, 'ip_version', /not in \[4, 6\]/],
    ['no ip_version', { ip_version: undefined }, 'ip_version', /Required attribute 'ip_version'/],
    ['no cidr', { cidr: undefined }, 'cidr', /a cidr must be specified/],
    ['host bits', { cidr: '10.0.0.5/24' }, 'cidr', /'10.0.0.0\/24' is recommended/],
    ['a malformed cidr', { cidr: '10.0.0/24' }, 'cidr', /not a valid IP subnet/],
    ['a gateway outside', { gateway_ip: '10.0.1.1' }, 'gateway_ip', /Gateway is not valid/],
    ['the broadcast as gateway', { gateway_ip: '10.0.0.255' }, 'gateway_ip', /Gateway is not valid/],
    ['a pool beyond the cidr', { allocation_pools: [{ start: '10.0.0.2', end: '10.0.1.5' }] }, 'allocation_pools', /spans beyond the subnet cidr/],
    ['a pool with the network address', { allocation_pools: [{ start: '10.0.0.0', end: '10.0.0.5' }] }, 'allocation_pools', /spans beyond/],
    ['a reversed pool', { allocation_pools: [{ start: '10.0.0.9', end: '10.0.0.5' }] }, 'allocation_pools', /is not valid/],
    ['overlapping pools', { allocation_pools: [{ start: '10.0.0.2', end: '10.0.0.9' }, { start: '10.0.0.9', end: '10.0.0.20' }] }, 'allocation_pools', /overlapping/],
    ['a pool with the gateway', { allocation_pools: [{ start: '10.0.0.1', end: '10.0.0.9' }] }, 'allocation_pools', /conflicts with allocation pool/],
    ['a bad nameserver', { dns_nameservers: ['8.8.8'] }, 'dns_nameservers', /not a valid IP address/],
    ['duplicate nameservers', { dns_nameservers: ['8.8.8.8', '8.8.8.8'] }, 'dns_nameservers', /Duplicate nameserver/],
    ['six nameservers', { dns_nameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5', '1.1.1.6'] }, 'dns_nameservers', /exceeds the limit 5/],
    ['a bad route', { host_routes: [{ destination: '10.1.0.0/16', nexthop: 'x' }] }, 'host_routes', /not a valid IP address/],
    ['an unknown attribute', { colour: 'red' }, 'colour', /Unrecognized attribute/],
    ['a subnet pool', { subnetpool_id: NET }, 'subnetpool_id', /not supported/],
    ['another project', { project_id: 'p2' }, undefined, /disallowed by policy/],
  ])('refuses %s naming the field', (_name, extra, field, message) => {
    const error = errorOf(() => create(extra));
    expect(error).toMatchObject({ field });
    expect(error?.message).toMatch(message);
    expect(error?.code).toBe(_name === 'another project' ? 'forbidden' : 'validation');
  });

  it('keeps nameservers and routes', () => {
    const s = create({ dns_nameservers: ['8.8.8.8', '1.1.1.1'], host_routes: [{ destination: '10.9.0.0/16', nexthop: '10.0.0.5' }], enable_dhcp: false });
    expect(s.dnsNameservers).toEqual(['8.8.8.8', '1.1.1.1']);
    expect(s.hostRoutes).toEqual([{ destination: '10.9.0.0/16', nexthop: '10.0.0.5' }]);
    expect(s.enableDhcp).toBe(false);
  });
});

describe('parseSubnetUpdate', () => {
  const cidr = parseCidr('10.0.0.0/24');
  const current = { gateway: cidr.network + 1, pools: [{ first: cidr.network + 2, last: cidr.network + 254 }] };
  it.each([
    ['the cidr', { cidr: '10.1.0.0/24' }, 'cidr', /read-only attribute cidr/],
    ['a gateway inside the current pool', { gateway_ip: '10.0.0.7' }, 'gateway_ip', /conflicts with allocation pool/],
    ['a pool holding the gateway', { allocation_pools: [{ start: '10.0.0.1', end: '10.0.0.9' }] }, 'allocation_pools', /conflicts/],
  ])('refuses %s', (_name, body, field, message) => {
    const error = errorOf(() => parseSubnetUpdate({ subnet: body }, cidr, current));
    expect(error).toMatchObject({ code: 'validation', field });
    expect(error?.message).toMatch(message);
  });
  it('moves gateway and pools together', () => {
    const u = parseSubnetUpdate({ subnet: { gateway_ip: '10.0.0.254', allocation_pools: [{ start: '10.0.0.2', end: '10.0.0.100' }] } }, cidr, current);
    expect(formatIp(u.gateway!)).toBe('10.0.0.254');
    expect(u.pools).toHaveLength(1);
  });
});
