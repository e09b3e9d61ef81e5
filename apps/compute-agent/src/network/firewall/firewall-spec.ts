/**
 * What the caller hands the firewall for each port of the host (inputs, untrusted: validated by
 * port-validation.ts), what validation makes of it, and what compiling reports per port.
 * Rule fields keep Neutron's names; remote_group_id is expanded by the caller.
 */
import { IpPrefix } from './net-values';

export interface AllowedAddressPairSpec {
  /** A host address or a CIDR. */
  ip_address: string;
  /** Defaults to the port's MAC. */
  mac_address?: string | null;
}

export interface SecurityGroupRuleSpec {
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** tcp, udp, icmp, icmpv6/ipv6-icmp, sctp, ... or an IP protocol number; null or 'any' = all. */
  protocol?: string | number | null;
  /** Ports for tcp/udp/sctp/udplite/dccp; the ICMP type (min) and code (max) for icmp. */
  port_range_min?: number | null;
  port_range_max?: number | null;
  remote_ip_prefix?: string | null;
  /**
   * The addresses of the members of remote_group_id, expanded by the caller (hosts or CIDRs of
   * both families; those of the other ethertype are ignored). An empty list matches nothing.
   */
  remote_group_prefixes?: string[] | null;
}

export interface PortFirewallSpec {
  portId: string;
  /** The TAP (or veth) of the port on the bridge. */
  tap: string;
  /**
   * The Linux bridge of the port's network. Each bridge gets its own conntrack zone, so two
   * networks with the same addresses never share connection state; without it the port's
   * traffic is tracked in zone 0 with the host's.
   */
  bridge?: string;
  mac: string;
  /** The port's fixed IPs (addresses, or Neutron's `{ ip_address }` objects). */
  fixedIps: Array<string | { ip_address: string }>;
  allowedAddressPairs?: AllowedAddressPairSpec[];
  /** false: the port is left unfiltered (no anti-spoofing, no security groups), as in Neutron. */
  portSecurityEnabled: boolean;
  rules: SecurityGroupRuleSpec[];
}

/** One allowed source of the port: a MAC with an address or prefix. */
export interface SourcePair {
  mac: string;
  prefix: IpPrefix;
}

export type L4Match =
  | { kind: 'any' }
  | { kind: 'ports'; protocol: 'tcp' | 'udp' | 'sctp' | 'udplite' | 'dccp'; min: number; max: number }
  | { kind: 'icmp'; type: number; code?: number }
  | { kind: 'protocol'; number: number };

export interface ValidRule {
  direction: 'ingress' | 'egress';
  family: 4 | 6;
  l4: L4Match;
  /** undefined: any remote address; otherwise the (non-empty) remote prefixes. */
  remote?: IpPrefix[];
}

export interface ValidPort {
  portId: string;
  /** The port id's 32 hex digits: the suffix of its chain names. */
  idHex: string;
  tap: string;
  bridge?: string;
  mac: string;
  /** The port's MAC and those of its allowed pairs. */
  macs: string[];
  sources: SourcePair[];
  portSecurityEnabled: boolean;
  /** Rules that can match anything (a remote group with no member of the family is dropped). */
  rules: ValidRule[];
}

/**
 * filtered: anti-spoofing and security groups apply; open: port security disabled, no filtering;
 * blocked: the spec was invalid, every frame from and to the tap is dropped (fail closed);
 * unfilterable: the tap name itself was invalid, so no rule can name it (nothing was installed).
 */
export type PortFirewallStatus = 'filtered' | 'open' | 'blocked' | 'unfilterable';

export interface PortFirewallOutcome {
  portId: string;
  tap: string;
  status: PortFirewallStatus;
  /** Why the port is blocked or unfilterable. */
  error?: { message: string; field?: string };
}

/**
 * Bits of the packet mark the firewall owns on bridged frames: the index of the port a frame came
 * from (bridge prerouting), of the port it goes to (bridge forward), and "seen by the inet table".
 */
export const MARK_SOURCE = 0x00003fff;
export const MARK_DEST = 0x3fff0000;
export const MARK_SEEN = 0x40000000;
export const MARK_OURS = MARK_SOURCE | MARK_DEST | MARK_SEEN;
/** The number of filtered ports a host can have (index 1..MAX_FILTERED_PORTS). */
export const MAX_FILTERED_PORTS = MARK_SOURCE;
