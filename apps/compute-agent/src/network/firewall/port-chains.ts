/**
 * The chains of one filtered port, as nftables text built only from validated values:
 *   bridge o_<id>  frames FROM the port: its mark, anti-spoofing (MAC, ARP, IPv4/IPv6 sources),
 *                  no DHCP/DHCPv6 server replies, router advertisements or redirects from the VM;
 *   bridge t_<id>  frames TO the port: its mark; nothing but ARP, IPv4 and IPv6;
 *   inet   e_<id>  its egress security group rules (stateful);
 *   inet   i_<id>  its ingress security group rules (stateful).
 * Anti-spoofing is stateless and lives in the bridge family, which sees MACs and ARP; the rules
 * need conntrack, which bridged IP packets get in the inet family (see nft-ruleset.ts). Pure.
 */
import { MARK_DEST, ValidPort, ValidRule } from './firewall-spec';
import { IpPrefix } from './net-values';

export interface PortChainNames {
  fromPort: string;
  toPort: string;
  egress: string;
  ingress: string;
}

export function portChainNames(idHex: string): PortChainNames {
  return { fromPort: `o_${idHex}`, toPort: `t_${idHex}`, egress: `e_${idHex}`, ingress: `i_${idHex}` };
}

export const hexMark = (value: number): string => `0x${(value >>> 0).toString(16).padStart(8, '0')}`;

/** The source and destination marks of the port with this index (1-based). */
export function portMarks(index: number): { source: string; dest: string } {
  return { source: hexMark(index), dest: hexMark((index << 16) & MARK_DEST) };
}

function set(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

/** A chain block, one rule a line (nft needs a line break or `;` after each rule). */
export function chainBlock(name: string, lines: string[]): string {
  return [`\tchain ${name} {`, ...lines.map((line) => `\t\t${line}`), '\t}'].join('\n');
}

function fromPortRules(port: ValidPort, index: number): string[] {
  const v4 = port.sources.filter((source) => source.prefix.family === 4);
  const v6 = port.sources.filter((source) => source.prefix.family === 6);
  const arpSenders = [
    ...port.macs.map((mac) => `${mac} . ${mac} . 0.0.0.0`), // ARP probes (RFC 5227) before an address is in use
    ...v4.map((source) => `${source.mac} . ${source.mac} . ${source.prefix.text}`),
  ];
  // Concatenations are only compared with sets in nft, even of one element.
  const sources = (list: typeof v4) => `{ ${list.map((source) => `${source.mac} . ${source.prefix.text}`).join(', ')} }`;
  return [
    `meta mark set meta mark | ${portMarks(index).source}`,
    `ether saddr != ${set(port.macs)} drop`,
    'ether type != { arp, ip, ip6 } drop',
    'ether type arp arp htype . arp ptype . arp hlen . arp plen != { 1 . ip . 6 . 4 } drop',
    'ether type arp arp operation != { request, reply } drop',
    `ether type arp ether saddr . arp saddr ether . arp saddr ip != { ${arpSenders.join(', ')} } drop`,
    'ether type arp accept',
    // A DHCP client asks before it has an address.
    'ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
    v4.length ? `ether type ip ether saddr . ip saddr != ${sources(v4)} drop` : 'ether type ip drop',
    'ether type ip udp sport 67 drop',
    // Duplicate address detection and MLD reports go out from :: before an address is in use.
    'ether type ip6 ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept',
    `ether type ip6 ether saddr . ip6 saddr != ${sources(v6)} drop`,
    'ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } drop',
    'ether type ip6 udp sport 547 drop',
  ];
}

function remoteMatch(rule: ValidRule, remote: IpPrefix[]): string {
  const family = rule.family === 4 ? 'ip' : 'ip6';
  const side = rule.direction === 'ingress' ? 'saddr' : 'daddr';
  return `${family} ${side} ${set(remote.map((prefix) => prefix.text))}`;
}

function l4Text(rule: ValidRule): string | undefined {
  const l4 = rule.l4;
  switch (l4.kind) {
    case 'any':
      return undefined;
    case 'ports':
      return `${l4.protocol} dport ${l4.min === l4.max ? l4.min : `${l4.min}-${l4.max}`}`;
    case 'icmp': {
      const icmp = rule.family === 4 ? 'icmp' : 'icmpv6';
      return `${icmp} type ${l4.type}${l4.code === undefined ? '' : ` ${icmp} code ${l4.code}`}`;
    }
    case 'protocol':
      return `meta l4proto ${l4.number}`;
  }
}

/** One security group rule as one nft rule. */
export function ruleLine(rule: ValidRule): string {
  const parts = [`meta nfproto ipv${rule.family}`];
  if (rule.remote) parts.push(remoteMatch(rule, rule.remote));
  const l4 = l4Text(rule);
  if (l4) parts.push(l4);
  parts.push('accept');
  return parts.join(' ');
}

function ruleLines(port: ValidPort, direction: 'ingress' | 'egress'): string[] {
  const lines = port.rules.filter((rule) => rule.direction === direction).map(ruleLine);
  // Sorted and unique: the same rules in any order give the same text (idempotent loads).
  return [...new Set(lines)].sort();
}

function egressRules(port: ValidPort): string[] {
  return [
    'ct state established,related accept',
    'meta nfproto ipv4 udp sport 68 udp dport 67 accept',
    'meta nfproto ipv6 udp sport 546 udp dport 547 accept',
    'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld-listener-done, mld2-listener-report } accept',
    'ct state invalid drop',
    ...ruleLines(port, 'egress'),
    'drop',
  ];
}

function ingressRules(port: ValidPort): string[] {
  return [
    'ct state established,related accept',
    'meta nfproto ipv4 udp sport 67 udp dport 68 accept',
    'meta nfproto ipv6 udp sport 547 udp dport 546 accept',
    'icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept',
    'ct state invalid drop',
    ...ruleLines(port, 'ingress'),
    'drop',
  ];
}

/** The bridge-family chains of a filtered port. */
export function bridgePortChains(port: ValidPort, index: number): string[] {
  const names = portChainNames(port.idHex);
  return [
    chainBlock(names.fromPort, fromPortRules(port, index)),
    // Only what the inet table can judge reaches the VM: br_netfilter skips VLAN-tagged and
    // other non-IP frames, which would otherwise bypass the ingress rules.
    chainBlock(names.toPort, [`meta mark set meta mark | ${portMarks(index).dest}`, 'ether type != { arp, ip, ip6 } drop']),
  ];
}

/** The inet-family chains of a filtered port. */
export function inetPortChains(port: ValidPort): string[] {
  const names = portChainNames(port.idHex);
  return [chainBlock(names.egress, egressRules(port)), chainBlock(names.ingress, ingressRules(port))];
}
