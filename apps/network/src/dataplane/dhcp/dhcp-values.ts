/**
 * Turns a desired network into a plan whose every value has been parsed and printed again by us:
 * MACs, addresses, CIDRs, names and numbers. Nothing else reaches dnsmasq's argv or files, so no
 * tenant text (a newline, a comma, a '#') can add a line or a field there. Pure.
 */
import { ValidationError } from '@nubo/contracts';
import { Cidr, contains, formatCidr, formatIp, networkOf, parseCidrLoose, parseIp } from '../../common/ipv4';
import { DhcpNames, DhcpNaming, hostnameOf, subnetTag, uuidOf } from './dhcp-names';
import { DesiredDhcpNetwork, DhcpSubnetSpec } from './dhcp-types';

export const MAX_DNS_NAMESERVERS = 5;
export const MAX_HOST_ROUTES = 20;

export interface PlannedSubnet {
  id: string;
  tag: string;
  cidr: Cidr;
  gateway: string | null;
  dns: string[];
  routes: Array<{ destination: string; nexthop: string }>;
}

export interface PlannedHost {
  mac: string;
  ip: string;
  hostname: string;
}

export interface DhcpPlan {
  networkId: string;
  names: DhcpNames;
  mtu: number;
  bridge: string;
  bridgeNetns?: string;
  portMac: string;
  /** The DHCP port's addresses as ip/prefix of their subnet. */
  addresses: string[];
  subnets: PlannedSubnet[];
  /** Every subnet of the network, DHCP or not: the others are on-link routes (Neutron's rule). */
  networkCidrs: Cidr[];
  hosts: PlannedHost[];
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const DEVICE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETNS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const invalid = (field: string, what: string) => new ValidationError(`${field} ${what}`, field);

/** A unicast MAC in lowercase colon form. */
export function macOf(text: unknown, field: string): string {
  const mac = typeof text === 'string' ? text.toLowerCase() : '';
  if (!MAC.test(mac) || parseInt(mac.slice(0, 2), 16) & 1 || mac === '00:00:00:00:00:00') throw invalid(field, 'must be a unicast MAC address');
  return mac;
}

export function ipOf(text: unknown, field: string): number {
  const ip = parseIp(text);
  if (ip === undefined) throw invalid(field, 'must be an IPv4 address');
  return ip;
}

/** A CIDR printed as its network (host bits cleared), as dnsmasq and routes want it. */
export function cidrOf(text: unknown, field: string, maxPrefix = 32): Cidr {
  const c = parseCidrLoose(text);
  if (!c || c.prefix > maxPrefix) throw invalid(field, `must be an IPv4 CIDR with a prefix of at most ${maxPrefix}`);
  return { network: networkOf(c.address, c.prefix), prefix: c.prefix };
}

function intOf(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid(field, `must be an integer from ${min} to ${max}`);
  return value;
}

function listOf<T>(value: unknown, field: string, max: number): T[] {
  if (!Array.isArray(value) || value.length > max) throw invalid(field, `must be a list of at most ${max} items`);
  return value as T[];
}

function planSubnet(s: DhcpSubnetSpec, i: number): PlannedSubnet {
  const f = `subnets[${i}]`;
  return {
    id: uuidOf(s.id, `${f}.id`),
    tag: subnetTag(s.id),
    cidr: cidrOf(s.cidr, `${f}.cidr`, 30),
    gateway: s.gatewayIp === null ? null : formatIp(ipOf(s.gatewayIp, `${f}.gatewayIp`)),
    dns: listOf<unknown>(s.dnsNameservers, `${f}.dnsNameservers`, MAX_DNS_NAMESERVERS).map((d, j) => formatIp(ipOf(d, `${f}.dnsNameservers[${j}]`))),
    routes: listOf<DhcpSubnetSpec['hostRoutes'][number]>(s.hostRoutes, `${f}.hostRoutes`, MAX_HOST_ROUTES).map((r, j) => ({
      destination: formatCidr(cidrOf(r?.destination, `${f}.hostRoutes[${j}].destination`)),
      nexthop: formatIp(ipOf(r?.nexthop, `${f}.hostRoutes[${j}].nexthop`)),
    })),
  };
}

export function planNetwork(n: DesiredDhcpNetwork, naming: DhcpNaming): DhcpPlan {
  const networkId = uuidOf(n.networkId, 'networkId');
  if (typeof n.bridge !== 'string' || !DEVICE.test(n.bridge)) throw invalid('bridge', 'must be a device name ([A-Za-z0-9_.-], at most 15)');
  if (n.bridgeNetns !== undefined && (typeof n.bridgeNetns !== 'string' || !NETNS.test(n.bridgeNetns))) {
    throw invalid('bridgeNetns', 'must be a namespace name ([A-Za-z0-9_.-], at most 64)');
  }
  const all = listOf<DhcpSubnetSpec>(n.subnets, 'subnets', 64);
  const networkCidrs = all.map((s, i) => cidrOf(s?.cidr, `subnets[${i}].cidr`, 30)).sort((a, b) => a.network - b.network);
  const subnets = all
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s?.enableDhcp === true)
    .map(({ s, i }) => planSubnet(s, i))
    .sort((a, b) => a.cidr.network - b.cidr.network || a.id.localeCompare(b.id));
  const subnetOf = (ip: number) => subnets.find((s) => contains(s.cidr, ip));

  const port = n.dhcpPort ?? ({} as DesiredDhcpNetwork['dhcpPort']);
  uuidOf(port.id, 'dhcpPort.id');
  const portIps = listOf<unknown>(port.ipAddresses, 'dhcpPort.ipAddresses', 64).map((t, i) => ipOf(t, `dhcpPort.ipAddresses[${i}]`));
  const addresses = portIps.filter(subnetOf).sort((a, b) => a - b).map((ip) => `${formatIp(ip)}/${subnetOf(ip)!.cidr.prefix}`);
  for (const s of subnets) {
    if (!portIps.some((ip) => contains(s.cidr, ip))) throw invalid('dhcpPort.ipAddresses', `has no address in DHCP-enabled subnet ${s.id}`);
  }

  const byIp = new Map<number, PlannedHost>();
  listOf<DesiredDhcpNetwork['leases'][number]>(n.leases, 'leases', 65536).forEach((l, i) => {
    uuidOf(l?.portId, `leases[${i}].portId`);
    const mac = macOf(l.mac, `leases[${i}].mac`);
    const ip = ipOf(l.ipAddress, `leases[${i}].ipAddress`);
    if (!subnetOf(ip) || portIps.includes(ip)) return; // a subnet without DHCP, or the DHCP port itself
    const seen = byIp.get(ip);
    if (seen && seen.mac !== mac) throw invalid(`leases[${i}].ipAddress`, `is leased to both ${seen.mac} and ${mac}`);
    byIp.set(ip, { mac, ip: formatIp(ip), hostname: hostnameOf(formatIp(ip)) });
  });
  const hosts = [...byIp.entries()].sort(([a], [b]) => a - b).map(([, h]) => h);

  return {
    networkId,
    names: naming.of(networkId),
    mtu: intOf(n.mtu, 'mtu', 68, 9000),
    bridge: n.bridge,
    bridgeNetns: n.bridgeNetns,
    portMac: macOf(port.mac, 'dhcpPort.mac'),
    addresses,
    subnets,
    networkCidrs,
    hosts,
  };
}
