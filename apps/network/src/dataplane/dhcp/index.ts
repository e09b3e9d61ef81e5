/** The DHCP role of the network node: see dhcp-dataplane.ts. */
export { DhcpDataplane } from './dhcp-dataplane';
export { DhcpNaming, hostnameOf } from './dhcp-names';
export type { DhcpNames } from './dhcp-names';
export type { DesiredDhcpNetwork, DhcpDataplaneOptions, DhcpLeaks, DhcpLeaseSpec, DhcpSubnetSpec, DhcpSyncResult } from './dhcp-types';
export type { CommandRunner } from './command-runner';
export { planNetwork } from './dhcp-values';
export { dnsmasqArgv, renderHosts, renderOpts } from './dnsmasq-config';
