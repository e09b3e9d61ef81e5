/**
 * Names of the L3 data plane, all derived from Neutron ids (never from tenant text), so a restarted
 * service finds what it made by prefix. Interface names fit IFNAMSIZ (15 characters).
 */

/** Default namespace prefix, Neutron's: `qrouter-<router id>`. */
export const DEFAULT_ROUTER_NAMESPACE_PREFIX = 'qrouter-';
/** Our nftables table in each router namespace. */
export const ROUTER_NFT_TABLE = 'nubo_router';

/** Inside a router namespace: internal (`qr-`) and gateway (`qg-`) interfaces. */
export const ROUTER_LINK_PREFIXES = { internal: 'qr-', gateway: 'qg-' } as const;
/** The veth peers, in the bridges' namespaces. */
export const ROUTER_PEER_PREFIXES = { internal: 'nrq-', gateway: 'nrg-' } as const;

export type RouterLinkKind = keyof typeof ROUTER_LINK_PREFIXES;

/** The full id (44 characters with Neutron's prefix, far under a namespace name's 255): no collisions to reason about. */
export function routerNamespace(prefix: string, routerId: string): string {
  return `${prefix}${routerId}`;
}

/** The first 11 hex digits of the port id, as Neutron names its qr-/qg- devices. */
export function routerLinkNames(kind: RouterLinkKind, portId: string): { name: string; peer: string } {
  const hex = portId.replace(/-/g, '').slice(0, 11);
  return { name: `${ROUTER_LINK_PREFIXES[kind]}${hex}`, peer: `${ROUTER_PEER_PREFIXES[kind]}${hex}` };
}

export const isRouterLink = (name: string): boolean => Object.values(ROUTER_LINK_PREFIXES).some((p) => name.startsWith(p));
export const isRouterPeer = (name: string): boolean => Object.values(ROUTER_PEER_PREFIXES).some((p) => name.startsWith(p));

/** A namespace prefix must be a namespace name's start (it is checked once, at construction). */
export function validNamespacePrefix(prefix: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/.test(prefix);
}
