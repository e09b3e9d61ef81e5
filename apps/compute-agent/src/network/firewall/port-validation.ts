/**
 * Turns a caller's port spec into typed values, or throws a ValidationError naming the field
 * (`rules[3].port_range_min`). Semantics follow Neutron: icmp on IPv6 means icmpv6, an ICMP rule's
 * port_range_min/max are the type/code, a port range needs a protocol that has ports, and a
 * remote_ip_prefix must be of the rule's ethertype. Pure.
 */
import { ValidationError } from '@nubo/contracts';
import { L4Match, PortFirewallSpec, SecurityGroupRuleSpec, SourcePair, ValidPort, ValidRule } from './firewall-spec';
import {
  IpPrefix, linkLocalOf, minimalPrefixes, parseInterfaceName, parseIntIn, parseIpPrefix, parseMac, parseUuidHex,
} from './net-values';

export const LIMITS = { fixedIps: 64, allowedAddressPairs: 64, rules: 10_000, remotePrefixes: 10_000 };

/** IANA numbers of the protocol names Neutron accepts. */
const PROTOCOL_NUMBERS: Record<string, number> = {
  ah: 51, dccp: 33, egp: 8, esp: 50, gre: 47, icmp: 1, icmpv6: 58, igmp: 2, ipip: 4, 'ipv6-encap': 41,
  'ipv6-frag': 44, 'ipv6-icmp': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ipv6-route': 43, ospf: 89,
  pgm: 113, rsvp: 46, sctp: 132, tcp: 6, udp: 17, udplite: 136, vrrp: 112,
};
const PORT_PROTOCOLS: Record<number, 'tcp' | 'udp' | 'sctp' | 'udplite' | 'dccp'> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 136: 'udplite', 33: 'dccp' };

function fail(field: string, message: string): never {
  throw new ValidationError(`${field} ${message}`, field);
}

function listOf<T>(value: unknown, field: string, max: number): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(field, 'must be a list');
  if (value.length > max) fail(field, `must have at most ${max} entries`);
  return value as T[];
}

/** The protocol number, or undefined for any protocol. */
function protocolNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === 'any') return undefined;
  if (typeof value === 'number') return parseIntIn(value, field, 0, 255);
  if (typeof value === 'string' && /^(0|[1-9][0-9]{0,2})$/.test(value)) return parseIntIn(Number(value), field, 0, 255);
  if (typeof value === 'string' && Object.hasOwn(PROTOCOL_NUMBERS, value.toLowerCase())) return PROTOCOL_NUMBERS[value.toLowerCase()];
  fail(field, 'must be a protocol name (tcp, udp, icmp, ...) or a number from 0 to 255');
}

function optionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  return value === undefined || value === null ? undefined : parseIntIn(value, field, min, max);
}

function l4Match(rule: SecurityGroupRuleSpec, family: 4 | 6, field: string): L4Match {
  let protocol = protocolNumber(rule.protocol, `${field}.protocol`);
  if (protocol === 1 && family === 6) protocol = 58; // Neutron: icmp on IPv6 means icmpv6
  if (protocol === 58 && family === 4) fail(`${field}.protocol`, 'icmpv6 needs ethertype IPv6');
  const isIcmp = protocol === 1 || protocol === 58;
  const limit = isIcmp ? 255 : 65535;
  const min = optionalInt(rule.port_range_min, `${field}.port_range_min`, isIcmp ? 0 : 1, limit);
  const max = optionalInt(rule.port_range_max, `${field}.port_range_max`, isIcmp ? 0 : 1, limit);
  if (protocol === undefined) {
    if (min !== undefined || max !== undefined) fail(`${field}.port_range_min`, 'needs a protocol');
    return { kind: 'any' };
  }
  if (isIcmp) {
    if (min === undefined && max !== undefined) fail(`${field}.port_range_max`, 'an ICMP code needs an ICMP type (port_range_min)');
    return min === undefined ? { kind: 'protocol', number: protocol } : { kind: 'icmp', type: min, code: max };
  }
  const portProtocol = PORT_PROTOCOLS[protocol];
  if (!portProtocol) {
    if (min !== undefined || max !== undefined) fail(`${field}.port_range_min`, 'is only valid for tcp, udp, sctp, udplite, dccp and icmp');
    return { kind: 'protocol', number: protocol };
  }
  if (min === undefined && max === undefined) return { kind: 'protocol', number: protocol };
  if (min === undefined) fail(`${field}.port_range_min`, 'is required with port_range_max');
  const upper = max ?? min;
  if (upper < min) fail(`${field}.port_range_max`, 'must not be below port_range_min');
  return { kind: 'ports', protocol: portProtocol, min, max: upper };
}

/** The rule, or null when it can match nothing (a remote group without members of its family). */
export function validateRule(rule: SecurityGroupRuleSpec, field: string): ValidRule | null {
  if (!rule || typeof rule !== 'object') fail(field, 'must be an object');
  if (rule.direction !== 'ingress' && rule.direction !== 'egress') fail(`${field}.direction`, 'must be ingress or egress');
  if (rule.ethertype !== 'IPv4' && rule.ethertype !== 'IPv6') fail(`${field}.ethertype`, 'must be IPv4 or IPv6');
  const family = rule.ethertype === 'IPv4' ? 4 : 6;
  const l4 = l4Match(rule, family, field);
  const hasPrefix = rule.remote_ip_prefix !== undefined && rule.remote_ip_prefix !== null;
  const group = rule.remote_group_prefixes;
  if (hasPrefix && group !== undefined && group !== null) fail(`${field}.remote_ip_prefix`, 'cannot be combined with a remote group');
  let remote: IpPrefix[] | undefined;
  if (hasPrefix) {
    const prefix = parseIpPrefix(rule.remote_ip_prefix, `${field}.remote_ip_prefix`);
    if (prefix.family !== family) fail(`${field}.remote_ip_prefix`, `is not an ${rule.ethertype} prefix`);
    remote = prefix.length === 0 ? undefined : [prefix];
  } else if (group !== undefined && group !== null) {
    const parsed = listOf<string>(group, `${field}.remote_group_prefixes`, LIMITS.remotePrefixes)
      .map((entry, i) => parseIpPrefix(entry, `${field}.remote_group_prefixes[${i}]`))
      .filter((prefix) => prefix.family === family);
    if (parsed.length === 0) return null;
    remote = parsed.some((prefix) => prefix.length === 0) ? undefined : minimalPrefixes(parsed);
  }
  return { direction: rule.direction, family, l4, remote };
}

function uniqueSources(sources: SourcePair[]): SourcePair[] {
  const byMac = new Map<string, IpPrefix[]>();
  for (const source of sources) byMac.set(source.mac, [...(byMac.get(source.mac) ?? []), source.prefix]);
  return [...byMac.entries()].sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([mac, prefixes]) => minimalPrefixes(prefixes).map((prefix) => ({ mac, prefix })));
}

/**
 * Validates a port spec. The tap is checked first (a port can be blocked only if its tap can be
 * named). Without port security only the tap, id and MAC are read: nothing else reaches a rule.
 */
export function validatePort(spec: PortFirewallSpec): ValidPort {
  if (!spec || typeof spec !== 'object') fail('port', 'must be an object');
  const tap = parseInterfaceName(spec.tap, 'tap');
  const idHex = parseUuidHex(spec.portId, 'portId');
  if (typeof spec.portSecurityEnabled !== 'boolean') fail('portSecurityEnabled', 'must be true or false');
  const bridge = spec.bridge === undefined || spec.bridge === null ? undefined : parseInterfaceName(spec.bridge, 'bridge');
  const mac = parseMac(spec.mac, 'mac');
  if (!spec.portSecurityEnabled) return { portId: spec.portId, idHex, tap, bridge, mac, macs: [mac], sources: [], portSecurityEnabled: false, rules: [] };
  const sources: SourcePair[] = listOf<string | { ip_address: string }>(spec.fixedIps, 'fixedIps', LIMITS.fixedIps).map((entry, i) => ({
    mac,
    prefix: parseIpPrefix(typeof entry === 'object' && entry !== null ? entry.ip_address : entry, `fixedIps[${i}]`, { hostOnly: true }),
  }));
  const pairs = listOf<{ ip_address: string; mac_address?: string | null }>(spec.allowedAddressPairs, 'allowedAddressPairs', LIMITS.allowedAddressPairs);
  pairs.forEach((pair, i) => {
    if (!pair || typeof pair !== 'object') fail(`allowedAddressPairs[${i}]`, 'must be an object');
    const pairMac = pair.mac_address === undefined || pair.mac_address === null ? mac : parseMac(pair.mac_address, `allowedAddressPairs[${i}].mac_address`);
    sources.push({ mac: pairMac, prefix: parseIpPrefix(pair.ip_address, `allowedAddressPairs[${i}].ip_address`) });
  });
  const macs = [...new Set([mac, ...sources.map((source) => source.mac)])].sort();
  // A guest configures the link-local address of each MAC it may use (Neutron allows them too).
  for (const each of macs) sources.push({ mac: each, prefix: linkLocalOf(each) });
  const rules = listOf<SecurityGroupRuleSpec>(spec.rules, 'rules', LIMITS.rules)
    .map((rule, i) => validateRule(rule, `rules[${i}]`))
    .filter((rule): rule is ValidRule => rule !== null);
  return { portId: spec.portId, idHex, tap, bridge, mac, macs, sources: uniqueSources(sources), portSecurityEnabled: true, rules };
}
