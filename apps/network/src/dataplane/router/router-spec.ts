/**
 * What the network service asks of the L3 data plane (one entry per Neutron router that has
 * something to route), and its validation into a `RouterPlan`: every value parsed and re-printed,
 * every name derived by us. Pure.
 */
import { routerLinkNames, routerNamespace } from './router-names';
import { Ipv4Cidr, cidrContains, parseIfName, parseIpv4, parseIpv4Cidr, parseMac, parseMtu, parseNetns, parseUuid } from './router-values';

/** Where a router port's peer goes: a Linux bridge, in a namespace (the service's own when absent). */
export interface BridgeAttachment {
  bridge: string;
  bridgeNetns?: string;
}

/** A router interface (Neutron port with device_owner network:router_interface). */
export interface RouterInterfaceSpec extends BridgeAttachment {
  portId: string;
  mac: string;
  /** `<subnet gateway_ip>/<subnet prefix>` for each subnet of the port (IPv4). */
  cidrs: string[];
  /** The network's MTU (1450 on VXLAN); the kernel's default when absent. */
  mtu?: number;
}

/** The router's external gateway (Neutron port with device_owner network:router_gateway). */
export interface RouterGatewaySpec extends BridgeAttachment {
  portId: string;
  mac: string;
  /** The router's external address with the external subnet's prefix, `203.0.113.10/24`. */
  cidr: string;
  /** The external subnet's gateway_ip: the default route. None when the subnet has none. */
  nextHop?: string | null;
  /** external_gateway_info.enable_snat. */
  enableSnat: boolean;
  mtu?: number;
}

export interface FloatingIpSpec {
  floatingIp: string;
  fixedIp: string;
}

export interface RouterSpec {
  routerId: string;
  interfaces: RouterInterfaceSpec[];
  gateway?: RouterGatewaySpec | null;
  /** Floating IPs associated through this router. */
  floatingIps?: FloatingIpSpec[];
}

export interface LinkPlan {
  /** Inside the router namespace: `qr-<port>` / `qg-<port>`. */
  name: string;
  /** The veth's other end, in `bridgeNetns`, enslaved to `bridge`. */
  peer: string;
  mac: string;
  bridge: string;
  bridgeNetns?: string;
  mtu?: number;
  /** `a.b.c.d/n` to hold, sorted. */
  addresses: string[];
}

export interface RouterPlan {
  routerId: string;
  namespace: string;
  internal: LinkPlan[];
  gateway?: LinkPlan & { address: string; nextHop?: string; enableSnat: boolean };
  /** Networks of the internal subnets, sorted: the sources that SNAT and hairpin NAT apply to. */
  internalNetworks: string[];
  /** Sorted by floating address. */
  floatingIps: FloatingIpSpec[];
}

export type RouterValidation = { ok: true; plan: RouterPlan } | { ok: false; routerId: string; field: string; message: string };

class InvalidField extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function need<T>(value: T | undefined, field: string, what: string): T {
  if (value === undefined) throw new InvalidField(field, `${field} must be ${what}`);
  return value;
}

function attachment(spec: BridgeAttachment, field: string): BridgeAttachment {
  const bridge = need(parseIfName(spec.bridge), `${field}.bridge`, 'an interface name');
  if (spec.bridgeNetns === undefined) return { bridge };
  return { bridge, bridgeNetns: need(parseNetns(spec.bridgeNetns), `${field}.bridgeNetns`, 'a namespace name') };
}

function mtuOf(value: unknown, field: string): { mtu?: number } {
  return value === undefined ? {} : { mtu: need(parseMtu(value), field, 'an integer 68-65535') };
}

/** Validates one router; any bad value rejects the whole router (the sync then leaves it as it is). */
export function validateRouter(spec: RouterSpec, options: { namespacePrefix: string }): RouterValidation {
  const rawId = typeof spec?.routerId === 'string' ? spec.routerId : '';
  try {
    const routerId = need(parseUuid(spec.routerId), 'routerId', 'a UUID');
    const seenPorts = new Set<string>();
    const port = (id: unknown, field: string) => {
      const portId = need(parseUuid(id), field, 'a UUID');
      if (seenPorts.has(portId)) throw new InvalidField(field, `${field} ${portId} is used twice`);
      seenPorts.add(portId);
      return portId;
    };
    const subnets: Ipv4Cidr[] = [];
    const internal = (spec.interfaces ?? []).map((itf, i): LinkPlan => {
      const f = `interfaces[${i}]`;
      const names = routerLinkNames('internal', port(itf.portId, `${f}.portId`));
      if (!Array.isArray(itf.cidrs) || itf.cidrs.length === 0) throw new InvalidField(`${f}.cidrs`, `${f}.cidrs must list the subnets' gateway addresses`);
      const cidrs = itf.cidrs.map((c, j) => need(parseIpv4Cidr(c), `${f}.cidrs[${j}]`, 'an IPv4 address with a prefix length'));
      for (const c of cidrs) {
        if (subnets.some((s) => s.network === c.network)) throw new InvalidField(`${f}.cidrs`, `subnet ${c.network} is attached twice`);
        subnets.push(c);
      }
      return {
        ...names, ...attachment(itf, f), ...mtuOf(itf.mtu, `${f}.mtu`),
        mac: need(parseMac(itf.mac), `${f}.mac`, 'a unicast MAC address'),
        addresses: cidrs.map((c) => `${c.address}/${c.prefix}`).sort(),
      };
    });
    let gateway: RouterPlan['gateway'];
    const floatingIps: FloatingIpSpec[] = [];
    if (spec.gateway) {
      const g = spec.gateway;
      const cidr = need(parseIpv4Cidr(g.cidr), 'gateway.cidr', 'an IPv4 address with a prefix length');
      const nextHop = g.nextHop == null ? undefined : need(parseIpv4(g.nextHop), 'gateway.nextHop', 'an IPv4 address');
      if (nextHop && !cidrContains(cidr, nextHop)) throw new InvalidField('gateway.nextHop', `gateway.nextHop ${nextHop} is outside ${cidr.network}`);
      if (typeof g.enableSnat !== 'boolean') throw new InvalidField('gateway.enableSnat', 'gateway.enableSnat must be a boolean');
      const seen = new Set<string>([cidr.address]);
      const fixedSeen = new Set<string>();
      for (const [i, fip] of (spec.floatingIps ?? []).entries()) {
        const floatingIp = need(parseIpv4(fip.floatingIp), `floatingIps[${i}].floatingIp`, 'an IPv4 address');
        const fixedIp = need(parseIpv4(fip.fixedIp), `floatingIps[${i}].fixedIp`, 'an IPv4 address');
        if (seen.has(floatingIp)) throw new InvalidField(`floatingIps[${i}].floatingIp`, `floating IP ${floatingIp} is used twice`);
        if (fixedSeen.has(fixedIp)) throw new InvalidField(`floatingIps[${i}].fixedIp`, `fixed IP ${fixedIp} has two floating IPs`);
        if (!subnets.some((s) => cidrContains(s, fixedIp))) throw new InvalidField(`floatingIps[${i}].fixedIp`, `fixed IP ${fixedIp} is on no subnet of the router`);
        seen.add(floatingIp);
        fixedSeen.add(fixedIp);
        floatingIps.push({ floatingIp, fixedIp });
      }
      floatingIps.sort((a, b) => compareIp(a.floatingIp, b.floatingIp));
      gateway = {
        ...routerLinkNames('gateway', port(g.portId, 'gateway.portId')), ...attachment(g, 'gateway'), ...mtuOf(g.mtu, 'gateway.mtu'),
        mac: need(parseMac(g.mac), 'gateway.mac', 'a unicast MAC address'),
        // Floating addresses as /32 beside the router's own: the kernel answers ARP for exactly these.
        addresses: [`${cidr.address}/${cidr.prefix}`, ...floatingIps.map((f) => `${f.floatingIp}/32`)].sort(),
        address: cidr.address, enableSnat: g.enableSnat, ...(nextHop ? { nextHop } : {}),
      };
    } else if ((spec.floatingIps ?? []).length) {
      throw new InvalidField('floatingIps', 'floating IPs need a router with an external gateway');
    }
    const internalNetworks = [...new Set(subnets.map((s) => s.network))].sort(compareIp);
    return { ok: true, plan: { routerId, namespace: routerNamespace(options.namespacePrefix, routerId), internal, gateway, internalNetworks, floatingIps } };
  } catch (error) {
    if (!(error instanceof InvalidField)) throw error;
    return { ok: false, routerId: rawId, field: error.field, message: error.message };
  }
}

/** Numeric order of `a.b.c.d` or `a.b.c.d/n` strings (rendering stays stable). */
export function compareIp(a: string, b: string): number {
  const key = (s: string) => s.split(/[./]/).map((p) => p.padStart(3, '0')).join('.');
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
