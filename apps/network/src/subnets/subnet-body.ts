/** Checks of a subnet body (IPv4 only): cidr, gateway, pools, DNS, routes. Pure, table-tested. */
import { NeutronCaller } from '@nubo/contracts';
import { Cidr, Range, contains, defaultPools, formatCidr, formatIp, networkOf, parseCidrLoose, parseIp, rangesOverlap, usableRange } from '../common/ipv4';
import { badRequest, forbidden, invalidInput } from '../common/neutron-errors';
import { optBool, optInt, optString, resourceBody } from '../common/neutron-query';

export const SUBNET_ATTRS = [
  'name', 'description', 'network_id', 'project_id', 'tenant_id', 'ip_version', 'cidr', 'gateway_ip', 'allocation_pools',
  'dns_nameservers', 'host_routes', 'enable_dhcp', 'ipv6_ra_mode', 'ipv6_address_mode', 'subnetpool_id', 'service_types',
] as const;
const MAX_DNS = 5;
const MAX_ROUTES = 20;

export interface HostRoute {
  destination: string;
  nexthop: string;
}
export interface SubnetSettings {
  gateway: number | null;
  pools: Range[];
  dnsNameservers: string[];
  hostRoutes: HostRoute[];
}
export interface SubnetCreate extends SubnetSettings {
  networkId: string;
  projectId?: string;
  name: string;
  description: string;
  cidr: Cidr;
  enableDhcp: boolean;
}

export function parseCidr(text: unknown, field = 'cidr'): Cidr {
  const loose = parseCidrLoose(text);
  if (!loose) throw invalidInput(field, `'${String(text)}' is not a valid IP subnet`);
  const network = networkOf(loose.address, loose.prefix);
  if (network !== loose.address) {
    throw invalidInput(field, `'${String(text)}' isn't a recognized IP subnet cidr, '${formatCidr({ network, prefix: loose.prefix })}' is recommended`);
  }
  return { network, prefix: loose.prefix };
}

function ip(text: unknown, field: string): number {
  const n = parseIp(text);
  if (n === undefined) throw invalidInput(field, `'${String(text)}' is not a valid IP address`);
  return n;
}

export function parseGateway(raw: unknown, cidr: Cidr): number | null {
  if (raw === null) return null;
  const gateway = ip(raw, 'gateway_ip');
  const usable = usableRange(cidr);
  if (!contains(cidr, gateway) || gateway < usable.first || gateway > usable.last) {
    throw invalidInput('gateway_ip', `Gateway is not valid on subnet ${formatCidr(cidr)}`);
  }
  return gateway;
}

/** Pools inside the usable range, not overlapping each other, not holding the gateway. */
export function parsePools(raw: unknown, cidr: Cidr, gateway: number | null): Range[] {
  if (!Array.isArray(raw)) throw invalidInput('allocation_pools', `'${JSON.stringify(raw)}' is not a list`);
  const usable = usableRange(cidr);
  const pools = raw.map((p: { start?: unknown; end?: unknown } | null) => {
    if (!p || typeof p !== 'object') throw invalidInput('allocation_pools', `'${JSON.stringify(p)}' is not a dictionary`);
    const first = ip(p.start, 'allocation_pools');
    const last = ip(p.end, 'allocation_pools');
    const text = `${formatIp(first)}-${formatIp(last)}`;
    if (first > last) throw badRequest(`The allocation pool ${text} is not valid.`, 'allocation_pools');
    if (first < usable.first || last > usable.last) throw badRequest(`The allocation pool ${text} spans beyond the subnet cidr ${formatCidr(cidr)}.`, 'allocation_pools');
    if (gateway !== null && gateway >= first && gateway <= last) {
      throw badRequest(`Gateway ip ${formatIp(gateway)} conflicts with allocation pool ${text}`, 'allocation_pools');
    }
    return { first, last };
  });
  pools.forEach((a, i) =>
    pools.slice(i + 1).forEach((b) => {
      if (rangesOverlap(a, b)) throw badRequest(`Found overlapping allocation pools: ${formatIp(a.first)}-${formatIp(a.last)} and ${formatIp(b.first)}-${formatIp(b.last)}`, 'allocation_pools');
    }),
  );
  return pools;
}

export function parseDns(raw: unknown): string[] {
  if (!Array.isArray(raw)) throw invalidInput('dns_nameservers', `'${JSON.stringify(raw)}' is not a list`);
  if (raw.length > MAX_DNS) throw badRequest(`Number of DNS nameservers exceeds the limit ${MAX_DNS}`, 'dns_nameservers');
  const out = raw.map((d) => formatIp(ip(d, 'dns_nameservers')));
  const dup = out.find((d, i) => out.indexOf(d) !== i);
  if (dup) throw invalidInput('dns_nameservers', `Duplicate nameserver '${dup}'`);
  return out;
}

export function parseRoutes(raw: unknown): HostRoute[] {
  if (!Array.isArray(raw)) throw invalidInput('host_routes', `'${JSON.stringify(raw)}' is not a list`);
  if (raw.length > MAX_ROUTES) throw badRequest(`Number of host routes exceeds the limit ${MAX_ROUTES}`, 'host_routes');
  return raw.map((r: { destination?: unknown; nexthop?: unknown } | null) => {
    if (!r || typeof r !== 'object') throw invalidInput('host_routes', `'${JSON.stringify(r)}' is not a dictionary`);
    return { destination: formatCidr(parseCidr(r.destination, 'host_routes')), nexthop: formatIp(ip(r.nexthop, 'host_routes')) };
  });
}

export function parseSubnetCreate(raw: unknown, caller: NeutronCaller): SubnetCreate {
  const body = resourceBody(raw, 'subnet', SUBNET_ATTRS);
  for (const f of ['subnetpool_id', 'ipv6_ra_mode', 'ipv6_address_mode'] as const) {
    if (body[f] !== undefined && body[f] !== null) throw invalidInput(f, `${f} is not supported (IPv4 subnets with an explicit cidr only)`);
  }
  if (body.service_types !== undefined && !(Array.isArray(body.service_types) && body.service_types.length === 0)) {
    throw invalidInput('service_types', 'service types are not supported');
  }
  if (typeof body.network_id !== 'string') throw badRequest(`Failed to parse request. Required attribute 'network_id' not specified`, 'network_id');
  const version = optInt(body, 'ip_version');
  if (version === undefined) throw badRequest(`Failed to parse request. Required attribute 'ip_version' not specified`, 'ip_version');
  if (version === 6) throw invalidInput('ip_version', 'IPv6 subnets are not supported yet; only ip_version 4');
  if (version !== 4) throw invalidInput('ip_version', `'${version}' is not in [4, 6]`);
  if (body.cidr === undefined) throw badRequest(`Bad subnets request: a cidr must be specified.`, 'cidr');
  const cidr = parseCidr(body.cidr);
  const gateway = body.gateway_ip === undefined ? defaultGateway(cidr) : parseGateway(body.gateway_ip, cidr);
  const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id');
  if (projectId !== undefined && projectId !== caller.projectId && !caller.isAdmin) throw forbidden(`(rule:create_subnet) is disallowed by policy`);
  return {
    networkId: body.network_id,
    projectId,
    name: optString(body, 'name') ?? '',
    description: optString(body, 'description') ?? '',
    cidr,
    gateway,
    pools: body.allocation_pools === undefined || body.allocation_pools === null ? defaultPools(cidr, gateway) : parsePools(body.allocation_pools, cidr, gateway),
    dnsNameservers: body.dns_nameservers === undefined || body.dns_nameservers === null ? [] : parseDns(body.dns_nameservers),
    hostRoutes: body.host_routes === undefined || body.host_routes === null ? [] : parseRoutes(body.host_routes),
    enableDhcp: optBool(body, 'enable_dhcp') ?? true,
  };
}

/** Neutron's default gateway: the first address (none on a /31 or /32). */
export function defaultGateway(cidr: Cidr): number | null {
  return cidr.prefix >= 31 ? null : cidr.network + 1;
}

export interface SubnetUpdate extends Partial<SubnetSettings> {
  name?: string;
  description?: string;
  enableDhcp?: boolean;
}

/** An update checked against the subnet's cidr and its current gateway and pools. */
export function parseSubnetUpdate(raw: unknown, cidr: Cidr, current: { gateway: number | null; pools: Range[] }): SubnetUpdate {
  const body = resourceBody(raw, 'subnet', SUBNET_ATTRS);
  const readOnly = ['network_id', 'project_id', 'tenant_id', 'ip_version', 'cidr', 'subnetpool_id', 'ipv6_ra_mode', 'ipv6_address_mode'].find((a) => body[a] !== undefined);
  if (readOnly) throw badRequest(`Cannot update read-only attribute ${readOnly}`, readOnly);
  const gateway = body.gateway_ip === undefined ? current.gateway : parseGateway(body.gateway_ip, cidr);
  const pools = body.allocation_pools === undefined ? undefined : parsePools(body.allocation_pools, cidr, gateway);
  if (pools === undefined && gateway !== null && body.gateway_ip !== undefined) {
    const clash = current.pools.find((p) => gateway >= p.first && gateway <= p.last);
    if (clash) throw badRequest(`Gateway ip ${formatIp(gateway)} conflicts with allocation pool ${formatIp(clash.first)}-${formatIp(clash.last)}`, 'gateway_ip');
  }
  return {
    name: optString(body, 'name'),
    description: optString(body, 'description'),
    enableDhcp: optBool(body, 'enable_dhcp'),
    gateway: body.gateway_ip === undefined ? undefined : gateway,
    pools,
    dnsNameservers: body.dns_nameservers === undefined ? undefined : parseDns(body.dns_nameservers ?? []),
    hostRoutes: body.host_routes === undefined ? undefined : parseRoutes(body.host_routes ?? []),
  };
}
