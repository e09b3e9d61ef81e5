/** Checks of a security group rule body, and the key that spots duplicates. Pure, table-tested. */
import { NeutronCaller } from '@nubo/contracts';
import { isIP } from 'node:net';
import { formatCidr, networkOf, parseCidrLoose } from '../common/ipv4';
import { badRequest, forbidden, invalidInput } from '../common/neutron-errors';
import { isUuid, optInt, optString, resourceBody } from '../common/neutron-query';

export const RULE_ATTRS = [
  'security_group_id', 'direction', 'ethertype', 'protocol', 'port_range_min', 'port_range_max', 'remote_ip_prefix',
  'remote_group_id', 'remote_address_group_id', 'description', 'project_id', 'tenant_id',
] as const;

/** Protocol names Neutron accepts, with their numbers. */
const PROTOCOLS: Record<string, number> = {
  ah: 51, dccp: 33, egp: 8, esp: 50, gre: 47, hopopt: 0, icmp: 1, icmpv6: 58, igmp: 2, ipip: 4, 'ipv6-encap': 41, 'ipv6-frag': 44,
  'ipv6-icmp': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ipv6-route': 43, ospf: 89, pgm: 113, rsvp: 46, sctp: 132, tcp: 6, udp: 17, udplite: 136, vrrp: 112,
};
const PORT_PROTOCOLS = new Set([6, 17, 33, 132, 136]);
const ICMP_PROTOCOLS = new Set([1, 58]);

export interface RuleSpec {
  securityGroupId: string;
  projectId?: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  portRangeMin: number | null;
  portRangeMax: number | null;
  remoteIpPrefix: string | null;
  remoteGroupId: string | null;
  description: string;
}

function protocolNumber(protocol: string | null): number | null {
  if (protocol === null) return null;
  return /^\d+$/.test(protocol) ? Number(protocol) : PROTOCOLS[protocol];
}

function parseProtocol(raw: unknown): string | null {
  if (raw === undefined || raw === null || raw === 'any') return null;
  const text = String(raw).toLowerCase();
  if (/^\d+$/.test(text) ? Number(text) > 255 : !(text in PROTOCOLS)) {
    throw badRequest(`Security group rule protocol ${String(raw)} not supported. Only protocol values [${Object.keys(PROTOCOLS).join(', ')}] and integer representations [0 to 255] are supported.`, 'protocol');
  }
  return text;
}

function parsePrefix(raw: unknown, ethertype: string): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw invalidInput('remote_ip_prefix', `'${String(raw)}' is not a valid IP subnet`);
  const [address, len, ...rest] = raw.split('/');
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  if (!version || rest.length || (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > max))) {
    throw invalidInput('remote_ip_prefix', `'${raw}' is not a valid IP subnet`);
  }
  if (`IPv${version}` !== ethertype) throw badRequest(`Conflicting value ethertype ${ethertype} for CIDR ${raw}`, 'remote_ip_prefix');
  if (version === 4) {
    const c = parseCidrLoose(len === undefined ? `${address}/32` : raw)!;
    return formatCidr({ network: networkOf(c.address, c.prefix), prefix: c.prefix });
  }
  return len === undefined ? `${address}/128` : raw;
}

/** Port ranges as Neutron checks them: ports for TCP-like protocols, type/code for ICMP, nothing else. */
function checkPorts(protocol: string | null, min: number | null, max: number | null): void {
  if (min === null && max === null) return;
  const n = protocolNumber(protocol);
  if (n === null) throw badRequest('Must also specify protocol if port range is given.', 'protocol');
  if (PORT_PROTOCOLS.has(n)) {
    if (min === null || max === null) throw badRequest('For TCP/UDP protocols, port_range_min must be <= port_range_max', 'port_range_min');
    for (const [field, value] of [['port_range_min', min], ['port_range_max', max]] as const) {
      if (value < 1 || value > 65535) throw invalidInput(field, `Invalid value for port ${value}`);
    }
    if (min > max) throw badRequest('For TCP/UDP protocols, port_range_min must be <= port_range_max', 'port_range_min');
  } else if (ICMP_PROTOCOLS.has(n)) {
    if (min === null && max !== null) throw badRequest(`ICMP code (port-range-max) ${max} is provided but ICMP type (port-range-min) is missing.`, 'port_range_min');
    for (const [field, value] of [['port_range_min', min], ['port_range_max', max]] as const) {
      if (value !== null && (value < 0 || value > 255)) throw badRequest(`Invalid value for ICMP ${field === 'port_range_min' ? 'type' : 'code'} (${field}) ${value}. It must be 0 to 255.`, field);
    }
  } else {
    throw badRequest(`Invalid protocol ${protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.`, 'protocol');
  }
}

export function parseRuleCreate(raw: unknown, caller: NeutronCaller): RuleSpec {
  const body = resourceBody(raw, 'security_group_rule', RULE_ATTRS);
  if (!isUuid(body.security_group_id)) throw invalidInput('security_group_id', `'${String(body.security_group_id)}' is not a valid UUID`);
  if (body.direction !== 'ingress' && body.direction !== 'egress') {
    throw invalidInput('direction', `'${String(body.direction)}' is not in ['ingress', 'egress']`);
  }
  const ethertype = body.ethertype ?? 'IPv4';
  if (ethertype !== 'IPv4' && ethertype !== 'IPv6') throw invalidInput('ethertype', `'${String(ethertype)}' is not in ['IPv4', 'IPv6']`);
  if (body.remote_address_group_id != null) throw invalidInput('remote_address_group_id', 'address groups are not supported');
  const protocol = parseProtocol(body.protocol);
  const min = optInt(body, 'port_range_min') ?? null;
  const max = optInt(body, 'port_range_max') ?? null;
  checkPorts(protocol, min, max);
  const remoteIpPrefix = parsePrefix(body.remote_ip_prefix, ethertype);
  const remoteGroupId = body.remote_group_id ?? null;
  if (remoteGroupId !== null && !isUuid(remoteGroupId)) throw invalidInput('remote_group_id', `'${String(remoteGroupId)}' is not a valid UUID`);
  if (remoteGroupId !== null && remoteIpPrefix !== null) throw badRequest('Only remote_ip_prefix or remote_group_id may be provided.', 'remote_ip_prefix');
  const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id');
  if (projectId !== undefined && projectId !== caller.projectId && !caller.isAdmin) throw forbidden('(rule:create_security_group_rule) is disallowed by policy');
  // Neutron keeps a TCP rule's single port as given; an ICMP rule without code stays without.
  return {
    securityGroupId: body.security_group_id,
    projectId,
    direction: body.direction,
    ethertype,
    protocol,
    portRangeMin: min,
    portRangeMax: max,
    remoteIpPrefix,
    remoteGroupId: remoteGroupId as string | null,
    description: optString(body, 'description') ?? '',
  };
}

/**
 * What makes two rules the same for Neutron: protocol by number, and "anywhere" whether written
 * as 0.0.0.0/0, ::/0 or left out.
 */
export function dedupeKey(r: Omit<RuleSpec, 'securityGroupId' | 'projectId' | 'description'>): string {
  const prefix = r.remoteIpPrefix === '0.0.0.0/0' || r.remoteIpPrefix === '::/0' ? '' : (r.remoteIpPrefix ?? '');
  return [r.direction, r.ethertype, protocolNumber(r.protocol) ?? '', r.portRangeMin ?? '', r.portRangeMax ?? '', prefix, r.remoteGroupId ?? ''].join('|');
}
