import { errorOf } from '../common/error-of';
import { dedupeKey, parseRuleCreate } from './rule-body';

const SG = '6f9d2a55-7f3a-4b8e-9a59-1d5c1a0e0b11';
const caller = { projectId: 'p1', isAdmin: false };
const parse = (extra: Record<string, unknown>) => parseRuleCreate({ security_group_rule: { security_group_id: SG, direction: 'ingress', ...extra } }, caller);

describe('parseRuleCreate', () => {
  it.each([
    ['tcp 22 from anywhere', { protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0' },
      { protocol: 'tcp', portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: '0.0.0.0/0', ethertype: 'IPv4' }],
    ['any protocol', {}, { protocol: null, portRangeMin: null, portRangeMax: null, remoteIpPrefix: null }],
    ['protocol by number', { protocol: '6', port_range_min: 80, port_range_max: 90 }, { protocol: '6' }],
    ['upper-case protocol', { protocol: 'UDP', port_range_min: 53, port_range_max: 53 }, { protocol: 'udp' }],
    ['icmp type without code', { protocol: 'icmp', port_range_min: 8 }, { portRangeMin: 8, portRangeMax: null }],
    ['a host prefix', { remote_ip_prefix: '192.168.1.7' }, { remoteIpPrefix: '192.168.1.7/32' }],
    ['host bits in a prefix', { remote_ip_prefix: '192.168.1.7/24' }, { remoteIpPrefix: '192.168.1.0/24' }],
    ['IPv6', { ethertype: 'IPv6', remote_ip_prefix: '2001:db8::/32' }, { ethertype: 'IPv6', remoteIpPrefix: '2001:db8::/32' }],
    ['a remote group', { remote_group_id: SG }, { remoteGroupId: SG }],
  ])('takes %s', (_name, extra, want) => expect(parse(extra)).toMatchObject(want));

  it.each([
    ['no direction', { direction: undefined }, 'direction', /not in \['ingress', 'egress'\]/],
    ['a bad ethertype', { ethertype: 'IPv5' }, 'ethertype', /not in/],
    ['an unknown protocol', { protocol: 'tcpx' }, 'protocol', /not supported/],
    ['protocol 256', { protocol: '256' }, 'protocol', /not supported/],
    ['ports without protocol', { port_range_min: 22, port_range_max: 22 }, 'protocol', /Must also specify protocol/],
    ['min above max', { protocol: 'tcp', port_range_min: 23, port_range_max: 22 }, 'port_range_min', /must be <= port_range_max/],
    ['port 0', { protocol: 'tcp', port_range_min: 0, port_range_max: 22 }, 'port_range_min', /Invalid value for port 0/],
    ['port 65536', { protocol: 'udp', port_range_min: 1, port_range_max: 65536 }, 'port_range_max', /Invalid value for port/],
    ['ports on gre', { protocol: 'gre', port_range_min: 1, port_range_max: 2 }, 'protocol', /Invalid protocol gre for port range/],
    ['icmp code without type', { protocol: 'icmp', port_range_max: 0 }, 'port_range_min', /ICMP type/],
    ['icmp type 300', { protocol: 'icmp', port_range_min: 300 }, 'port_range_min', /0 to 255/],
    ['an IPv6 prefix on IPv4', { remote_ip_prefix: '2001:db8::/32' }, 'remote_ip_prefix', /Conflicting value ethertype IPv4/],
    ['a malformed prefix', { remote_ip_prefix: '10.0.0.0/40' }, 'remote_ip_prefix', /not a valid IP subnet/],
    ['prefix and group', { remote_ip_prefix: '10.0.0.0/8', remote_group_id: SG }, 'remote_ip_prefix', /Only remote_ip_prefix or remote_group_id/],
    ['a bad group id', { security_group_id: 'x' }, 'security_group_id', /not a valid UUID/],
    ['a non-integer port', { protocol: 'tcp', port_range_min: 'a', port_range_max: 2 }, 'port_range_min', /not an integer/],
  ])('refuses %s naming the field', (_name, extra, field, message) => {
    const error = errorOf(() => parse(extra));
    expect(error).toMatchObject({ code: 'validation', field });
    expect(error?.message).toMatch(message);
  });
});

describe('dedupeKey', () => {
  const base = { direction: 'egress' as const, ethertype: 'IPv4' as const, protocol: null, portRangeMin: null, portRangeMax: null, remoteIpPrefix: null, remoteGroupId: null };
  it.each([
    ['"anywhere" written out and left out', { remoteIpPrefix: '0.0.0.0/0' }, {}, true],
    ['a protocol by name and by number', { protocol: 'tcp' }, { protocol: '6' }, true],
    ['two directions', { direction: 'ingress' as const }, {}, false],
    ['two port ranges', { protocol: 'tcp', portRangeMin: 22, portRangeMax: 22 }, { protocol: 'tcp', portRangeMin: 22, portRangeMax: 23 }, false],
    ['a prefix and none', { remoteIpPrefix: '10.0.0.0/8' }, {}, false],
  ])('%s: same is %s', (_name, a, b, same) => expect(dedupeKey({ ...base, ...a }) === dedupeKey({ ...base, ...b })).toBe(same));
});
