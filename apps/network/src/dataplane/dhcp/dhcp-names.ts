/**
 * Names of what the DHCP role makes, derived from ids so that a restarted service finds the same
 * names and recognises its own (Neutron's qdhcp-<network> namespaces). IFNAMSIZ is 16 with the NUL.
 *
 *   <namespacePrefix><12 hex of the network>   the namespace (qdhcp-0123456789ab), also the name
 *                                             of the network's folder in the state dir
 *   ns-<12 hex of the network>                 our end of the veth, inside that namespace
 *   <linkPrefix><hex of the network>           the end that joins the bridge (nd-0123456789ab)
 */
import { ValidationError } from '@nubo/contracts';

export const IFNAMSIZ_MAX = 15;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface DhcpNames {
  namespace: string;
  innerDevice: string;
  outerDevice: string;
}

/** A UUID in its canonical lowercase form, or a ValidationError naming the field. */
export function uuidOf(id: unknown, field: string): string {
  const text = typeof id === 'string' ? id.toLowerCase() : '';
  if (!UUID.test(text)) throw new ValidationError(`${field} must be a UUID`, field);
  return text;
}

const hexOf = (networkId: string) => uuidOf(networkId, 'networkId').replace(/-/g, '');

export class DhcpNaming {
  readonly namespacePrefix: string;
  readonly linkPrefix: string;
  private readonly ownedNamespace: RegExp;

  constructor(o: { namespacePrefix?: string; linkPrefix?: string } = {}) {
    this.namespacePrefix = o.namespacePrefix ?? 'qdhcp-';
    this.linkPrefix = o.linkPrefix ?? 'nd-';
    // Namespace names are files under /run/netns (not interface names): a cloud's name fits in front.
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(this.namespacePrefix)) throw new ValidationError('namespacePrefix must match [a-z][a-z0-9-]{0,63}', 'namespacePrefix');
    if (!/^[a-z][a-z0-9-]{0,4}$/.test(this.linkPrefix)) throw new ValidationError('linkPrefix must match [a-z][a-z0-9-]{0,4}', 'linkPrefix');
    this.ownedNamespace = new RegExp(`^${this.namespacePrefix}[0-9a-f]{12}$`);
  }

  of(networkId: string): DhcpNames {
    const hex = hexOf(networkId);
    return {
      namespace: `${this.namespacePrefix}${hex.slice(0, 12)}`,
      innerDevice: `ns-${hex.slice(0, 12)}`,
      outerDevice: `${this.linkPrefix}${hex.slice(0, IFNAMSIZ_MAX - this.linkPrefix.length)}`,
    };
  }

  /** True for our namespaces (and state folders), exactly: anything else is foreign and left alone. */
  owns(name: string): boolean {
    return this.ownedNamespace.test(name);
  }
}

/** dnsmasq's tag for a subnet (ties its range to its options). */
export const subnetTag = (subnetId: string): string => `subnet-${uuidOf(subnetId, 'subnets.id')}`;

/** Neutron's host name for an address with no dns_name: host-10-0-0-5. Only [a-z0-9-] by construction. */
export const hostnameOf = (dottedIp: string): string => `host-${dottedIp.replace(/\./g, '-')}`;
