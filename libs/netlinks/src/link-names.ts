/**
 * Names of the host data plane's devices, derived from ids so that any agent, at any time, finds
 * the same names (a restarted agent rebuilds from the control plane and recognises its devices).
 * IFNAMSIZ is 16 with the NUL: a 3-character prefix and the first 12 hex digits of the id fill
 * the 15. Tap names also satisfy the NIC rule of instance-spec.ts ([a-z0-9-]{1,15}), which QEMU's
 * `-netdev tap,ifname=` gets verbatim (qemu-nic-argv.ts).
 *
 *   nb-<network>  Linux bridge of a tenant network
 *   nv-<network>  its VXLAN device
 *   nl-<network>  its 802.1q sub-interface (vlan networks)
 *   nt-<port>     the TAP of a port (one VM NIC)
 *
 * Only names matching OWNED_LINK are ever changed or deleted by the planner.
 */
import { ValidationError, portTapName } from '@nubo/contracts';

export const IFNAMSIZ_MAX = 15;

/** Our devices, exactly: anything else on the host is foreign and left alone. */
export const OWNED_LINK = /^n[bvlt]-[0-9a-f]{12}$/;

export type OwnedLinkRole = 'bridge' | 'vxlan' | 'vlan' | 'tap';

const ROLE_BY_LETTER: Record<string, OwnedLinkRole> = { b: 'bridge', v: 'vxlan', l: 'vlan', t: 'tap' };

/** The first 12 hex digits of an id (a UUID, with or without dashes). */
export function idHex(id: string, field = 'id'): string {
  const hex = typeof id === 'string' ? id.toLowerCase().replace(/-/g, '') : '';
  if (!/^[0-9a-f]{12,}$/.test(hex)) throw new ValidationError(`${field} must be a UUID (hex digits and dashes)`, field);
  return hex.slice(0, 12);
}

export const bridgeName = (networkId: string): string => `nb-${idHex(networkId, 'networkId')}`;
export const vxlanName = (networkId: string): string => `nv-${idHex(networkId, 'networkId')}`;
export const vlanName = (networkId: string): string => `nl-${idHex(networkId, 'networkId')}`;
/** The compute contract's rule (the scheduler names NICs by it too). */
export const tapName = (portId: string): string => portTapName(portId);

/** The role of one of our devices, or undefined for a foreign one. */
export function ownedRole(name: string): OwnedLinkRole | undefined {
  return OWNED_LINK.test(name) ? ROLE_BY_LETTER[name[1]] : undefined;
}

/**
 * The tap's own MAC: the guest's with the first octet 0xfe (libvirt's rule). A bridge takes the
 * lowest MAC of its ports, so a 0xfe tap never lends the bridge its address, and the tap never
 * answers for the guest's MAC.
 */
export function tapMac(guestMac: string): string {
  return `fe${guestMac.toLowerCase().slice(2)}`;
}
