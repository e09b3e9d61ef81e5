/** The tenant networks data plane of a host (compute hosts and the network node): plan (pure), apply, check for leaks. */
export type * from './data-plane-types';
export type { CommandRunner, HostLinksOptions } from './host-links';
export type { LinkCommand } from './link-commands';
export type { LinkLeak } from './link-leaks';
export { DEFAULT_MTU, DEFAULT_VXLAN_PORT, resolveDesired } from './desired-state';
export { FLOOD_MAC, planDataPlane } from './data-plane-planner';
export { LinkObserveError, LinkOpError } from './data-plane-errors';
export { HostLinks, execFileRunner } from './host-links';
export { describeOp, opCommand } from './link-commands';
export { describeLeak, findLinkLeaks } from './link-leaks';
export { OWNED_LINK, bridgeName, ownedRole, tapMac, tapName, vlanName, vxlanName } from './link-names';
export { parseFdb, parseLinks } from './observed-state';
export { parsePhysicalInterfaces } from './physical-interfaces';
