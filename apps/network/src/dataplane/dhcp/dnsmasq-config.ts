/**
 * dnsmasq's command line and its two reloadable files (--dhcp-hostsfile, --dhcp-optsfile), from a
 * validated plan. Pure. What SIGHUP can change lives in the files; the argv holds what needs a
 * restart (ranges, interface, paths), so comparing argv tells restart from reload.
 */
import { join } from 'node:path';
import { Cidr, formatCidr, formatIp, rangeOf } from '../../common/ipv4';
import { DhcpPlan, PlannedSubnet } from './dhcp-values';

export interface DnsmasqFiles {
  dir: string;
  pid: string;
  leases: string;
  hosts: string;
  opts: string;
}

export const filesOf = (stateDir: string, namespace: string): DnsmasqFiles => {
  const dir = join(stateDir, namespace);
  return { dir, pid: join(dir, 'dnsmasq.pid'), leases: join(dir, 'leases'), hosts: join(dir, 'hosts'), opts: join(dir, 'opts') };
};

const netmaskOf = (prefix: number): string => formatIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
const sizeOf = (c: Cidr): number => rangeOf(c).last - rangeOf(c).first + 1;

/** The arguments after the dnsmasq binary; run as `ip netns exec <ns> dnsmasq ...argv`. */
export function dnsmasqArgv(plan: DhcpPlan, files: DnsmasqFiles, leaseSeconds: number): string[] {
  return [
    '--conf-file=/dev/null',
    '--no-hosts',
    '--no-resolv',
    '--port=0',
    '--bind-interfaces',
    `--interface=${plan.names.innerDevice}`,
    `--pid-file=${files.pid}`,
    `--dhcp-leasefile=${files.leases}`,
    `--dhcp-hostsfile=${files.hosts}`,
    `--dhcp-optsfile=${files.opts}`,
    ...plan.subnets.map((s) => `--dhcp-range=set:${s.tag},${formatIp(s.cidr.network)},static,${netmaskOf(s.cidr.prefix)},${leaseSeconds}s`),
    `--dhcp-lease-max=${plan.subnets.reduce((sum, s) => sum + sizeOf(s.cidr), 0)}`,
  ];
}

/** One line per static lease: mac,hostname,ip (Neutron's order). */
export function renderHosts(plan: DhcpPlan): string {
  return plan.hosts.map((h) => `${h.mac},${h.hostname},${h.ip}\n`).join('');
}

/**
 * Per subnet: router (empty when the subnet has no gateway, so that none is sent), DNS servers,
 * MTU, and the classless static routes (121, and 249 for old Windows) made of the host routes,
 * the network's other subnets on-link, and a default route via the gateway, since a client that
 * takes option 121 ignores option 3 (RFC 3442). Neutron's rules.
 */
export function renderOpts(plan: DhcpPlan): string {
  return plan.subnets.map((s) => subnetOpts(plan, s).map((o) => `tag:${s.tag},${o}\n`).join('')).join('');
}

function subnetOpts(plan: DhcpPlan, s: PlannedSubnet): string[] {
  const routes = [
    ...s.routes.map((r) => `${r.destination},${r.nexthop}`),
    ...plan.networkCidrs.filter((c) => c.network !== s.cidr.network || c.prefix !== s.cidr.prefix).map((c) => `${formatCidr(c)},0.0.0.0`),
  ];
  if (routes.length && s.gateway) routes.push(`0.0.0.0/0,${s.gateway}`);
  return [
    s.gateway ? `option:router,${s.gateway}` : 'option:router',
    ...(s.dns.length ? [`option:dns-server,${s.dns.join(',')}`] : []),
    `option:mtu,${plan.mtu}`,
    ...(routes.length ? [`option:classless-static-route,${routes.join(',')}`, `249,${routes.join(',')}`] : []),
  ];
}
