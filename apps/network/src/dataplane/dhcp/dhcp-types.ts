/**
 * The DHCP role of the network node, as the control plane describes it. Values arrive as the API
 * stored them (strings); dhcp-values.ts parses every one of them before anything reaches dnsmasq.
 */

/** One subnet of the network. Subnets with enableDhcp false are not served. */
export interface DhcpSubnetSpec {
  id: string;
  /** IPv4 CIDR, e.g. "10.0.0.0/24". */
  cidr: string;
  /** The router option; null sends an empty router option (no default gateway). */
  gatewayIp: string | null;
  dnsNameservers: string[];
  hostRoutes: Array<{ destination: string; nexthop: string }>;
  enableDhcp: boolean;
}

/** A static lease: one fixed IP of one port. A port with two fixed IPs gives two leases. */
export interface DhcpLeaseSpec {
  portId: string;
  mac: string;
  ipAddress: string;
}

export interface DesiredDhcpNetwork {
  networkId: string;
  /** The network's MTU, sent as option 26 (1450 on VXLAN networks) and set on the veth. */
  mtu: number;
  /** The Linux bridge of the network, which the veth's outer end joins. */
  bridge: string;
  /** The namespace the bridge lives in; undefined = the root namespace. */
  bridgeNetns?: string;
  /** The network's DHCP port (device_owner network:dhcp): its MAC and fixed IPs go on our end of the veth. */
  dhcpPort: { id: string; mac: string; ipAddresses: string[] };
  subnets: DhcpSubnetSpec[];
  leases: DhcpLeaseSpec[];
}

export interface DhcpDataplaneOptions {
  /** Directory holding one folder per network (hosts, opts, pid, leases files). */
  stateDir: string;
  /** Prefix of our namespaces, default "qdhcp-" (Neutron's); tests use their own. */
  namespacePrefix?: string;
  /** Prefix of the veth end that joins the bridge, default "nd-" (n + d for DHCP, like nb-/nt-). */
  linkPrefix?: string;
  /** Lease time in seconds, default 86400 (Neutron's dhcp_lease_duration). */
  leaseSeconds?: number;
  /** The dnsmasq binary, default "dnsmasq". */
  dnsmasqPath?: string;
}

export interface DhcpSyncResult {
  started: string[];
  restarted: string[];
  reloaded: string[];
  unchanged: string[];
  /** Namespaces (ours by prefix) removed because no desired network names them. */
  removed: string[];
  failed: Array<{ networkId: string; error: string }>;
}

/** What exists of ours with no desired network behind it. */
export interface DhcpLeaks {
  namespaces: string[];
  processes: Array<{ pid: number; name: string }>;
  stateDirs: string[];
}
