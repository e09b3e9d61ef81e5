/**
 * Compiles the port specs of one host into ONE nftables file that replaces our two tables as a
 * whole (`table x {}` + `delete table x` + the new table, in one transaction):
 *
 *   table bridge nubo_sg   from_ports (prerouting -200): iifname vmap -> o_<id> (mark, anti-spoofing)
 *                          to_ports (forward -100, before br_netfilter): oifname vmap -> t_<id> (mark)
 *                          check_seen (forward 100, after br_netfilter): IP frames of our ports
 *                            that the inet table never saw are dropped (fail closed)
 *   table inet nubo_sg     zones (prerouting -300): a conntrack zone per bridge (conntrack-zones.ts)
 *                          egress_forwarded (forward -10) / egress_local (input -10):
 *                            source mark vmap -> e_<id>; sets the "seen" bit
 *                          ingress_forwarded (forward -5): destination mark vmap -> i_<id>
 *
 * Why two families: only the bridge family sees MACs, ARP and the bridge port of a frame; only the
 * inet family has conntrack for bridged packets on kernels without nf_conntrack_bridge (this one),
 * where br_netfilter hands bridged IP packets to it with the bridge, not the port, as iif/oif. The
 * packet mark carries the ports across. An accept in one base chain goes on to the next, a drop is
 * final, so a packet between two of our ports passes the sender's egress and the receiver's
 * ingress rules. A port whose spec is invalid is dropped in both directions and reported; the
 * others are unaffected. Pure.
 */
import { ValidationError } from '@nubo/contracts';
import {
  MARK_DEST, MARK_OURS, MARK_SEEN, MARK_SOURCE, MAX_FILTERED_PORTS, PortFirewallOutcome, PortFirewallSpec, ValidPort,
} from './firewall-spec';
import { bridgeZones, zoneChainLines } from './conntrack-zones';
import { parseInterfaceName } from './net-values';
import { bridgePortChains, chainBlock, hexMark, inetPortChains, portChainNames, portMarks } from './port-chains';
import { validatePort } from './port-validation';

export const DEFAULT_TABLE = 'nubo_sg';

export interface CompiledRuleset {
  table: string;
  /** The whole `nft -f` input. */
  text: string;
  /** One per spec, in the caller's order. */
  outcomes: PortFirewallOutcome[];
  /** The chains the tables hold once loaded (none when no port is filtered or blocked). */
  chains: { bridge: string[]; inet: string[] };
}

export function validateTableName(table: string): string {
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(table)) throw new ValidationError('table must be 1-32 of [a-z0-9_], starting with a letter', 'table');
  return table;
}

interface Checked {
  spec: PortFirewallSpec;
  outcome: PortFirewallOutcome;
  port?: ValidPort;
}

function check(spec: PortFirewallSpec): Checked {
  const ids = { portId: String(spec?.portId ?? ''), tap: String(spec?.tap ?? '') };
  try {
    const port = validatePort(spec);
    return { spec, port, outcome: { ...ids, status: port.portSecurityEnabled ? 'filtered' : 'open' } };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const reason = { message: error.message, field: error.details.field as string | undefined };
    try {
      parseInterfaceName(spec?.tap, 'tap');
      return { spec, outcome: { ...ids, status: 'blocked', error: reason } };
    } catch {
      return { spec, outcome: { ...ids, status: 'unfilterable', error: reason } };
    }
  }
}

function block(entry: Checked, message: string, field: string): void {
  entry.outcome.status = 'blocked';
  entry.outcome.error = { message, field };
  entry.port = undefined;
}

/** Ports sharing a tap or a port id cannot be told apart: all of them are blocked. */
function blockConflicts(entries: Checked[]): void {
  const byKey = new Map<string, Checked[]>();
  for (const entry of entries) {
    if (entry.outcome.status === 'unfilterable') continue;
    const keys = [`tap:${entry.spec.tap}`, ...(entry.port ? [`id:${entry.port.idHex}`] : [])];
    for (const key of keys) byKey.set(key, [...(byKey.get(key) ?? []), entry]);
  }
  for (const [key, group] of byKey) {
    if (group.length < 2) continue;
    const field = key.startsWith('tap:') ? 'tap' : 'portId';
    for (const entry of group) block(entry, `${field} is shared by ${group.length} ports`, field);
  }
}

const elements = (entries: string[]): string[] => (entries.length ? [`\t\telements = { ${entries.join(',\n\t\t\t     ')} }`] : []);

function verdictMap(name: string, type: string, entries: string[]): string {
  return [`\tmap ${name} {`, `\t\ttype ${type} : verdict`, ...elements(entries), '\t}'].join('\n');
}

const mask = (bits: number): string => hexMark(~bits);

function bridgeTable(table: string, filtered: ValidPort[], blockedTaps: string[]): string {
  const fromPort = [...filtered.map((port) => [port.tap, `jump ${portChainNames(port.idHex).fromPort}`]), ...blockedTaps.map((tap) => [tap, 'drop'])];
  const toPort = [...filtered.map((port) => [port.tap, `jump ${portChainNames(port.idHex).toPort}`]), ...blockedTaps.map((tap) => [tap, 'drop'])];
  const entries = (pairs: string[][]) => pairs.sort(([a], [b]) => (a < b ? -1 : 1)).map(([tap, verdict]) => `"${tap}" : ${verdict}`);
  return [
    `table bridge ${table} {`,
    verdictMap('from_port', 'ifname', entries(fromPort)),
    verdictMap('to_port', 'ifname', entries(toPort)),
    ...filtered.flatMap((port, i) => bridgePortChains(port, i + 1)),
    chainBlock('from_ports', ['type filter hook prerouting priority -200; policy accept;', `meta mark set meta mark & ${mask(MARK_OURS)}`, 'iifname vmap @from_port']),
    chainBlock('to_ports', ['type filter hook forward priority -100; policy accept;', `meta mark set meta mark & ${mask(MARK_DEST | MARK_SEEN)}`, 'oifname vmap @to_port']),
    chainBlock('check_seen', [
      'type filter hook forward priority 100; policy accept;',
      `ether type { ip, ip6 } meta mark & ${hexMark(MARK_SOURCE | MARK_DEST)} != 0 meta mark & ${hexMark(MARK_SEEN)} == 0 drop`,
    ]),
    '}',
  ].join('\n');
}

function inetTable(table: string, filtered: ValidPort[], zoneLines: string[] | undefined): string {
  const egress = filtered.map((port, i) => `${portMarks(i + 1).source} : jump ${portChainNames(port.idHex).egress}`);
  const ingress = filtered.map((port, i) => `${portMarks(i + 1).dest} : jump ${portChainNames(port.idHex).ingress}`);
  return [
    `table inet ${table} {`,
    verdictMap('egress_marks', 'mark', egress),
    verdictMap('ingress_marks', 'mark', ingress),
    ...filtered.flatMap((port) => inetPortChains(port)),
    ...(zoneLines ? [chainBlock('zones', zoneLines)] : []),
    chainBlock('egress_forwarded', [
      'type filter hook forward priority -10; policy accept;',
      `meta mark & ${hexMark(MARK_SOURCE | MARK_DEST)} != 0 meta mark set meta mark | ${hexMark(MARK_SEEN)}`,
      `meta mark & ${hexMark(MARK_SOURCE)} vmap @egress_marks`,
    ]),
    chainBlock('egress_local', ['type filter hook input priority -10; policy accept;', `meta mark & ${hexMark(MARK_SOURCE)} vmap @egress_marks`]),
    chainBlock('ingress_forwarded', ['type filter hook forward priority -5; policy accept;', `meta mark & ${hexMark(MARK_DEST)} vmap @ingress_marks`]),
    '}',
  ].join('\n');
}

/** The header that empties our tables, whether they exist or not, in the same transaction. */
export function resetTables(table: string): string {
  return [`table bridge ${table} {}`, `delete table bridge ${table}`, `table inet ${table} {}`, `delete table inet ${table}`].join('\n');
}

export function compileRuleset(specs: PortFirewallSpec[], options: { table?: string } = {}): CompiledRuleset {
  const table = validateTableName(options.table ?? DEFAULT_TABLE);
  const entries = specs.map(check);
  blockConflicts(entries);
  const filteredEntries = entries.filter((entry) => entry.outcome.status === 'filtered')
    .sort((a, b) => (a.port!.idHex < b.port!.idHex ? -1 : 1));
  filteredEntries.slice(MAX_FILTERED_PORTS).forEach((entry) => block(entry, `more than ${MAX_FILTERED_PORTS} filtered ports on the host`, 'portId'));
  const filtered = filteredEntries.slice(0, MAX_FILTERED_PORTS).map((entry) => entry.port!);
  const blockedTaps = [...new Set(entries.filter((entry) => entry.outcome.status === 'blocked').map((entry) => entry.spec.tap))];

  const parts = ['# Nubo compute agent: security groups and anti-spoofing. Generated; replaced as a whole.', resetTables(table)];
  const chains = { bridge: [] as string[], inet: [] as string[] };
  if (filtered.length || blockedTaps.length) {
    parts.push(bridgeTable(table, filtered, blockedTaps));
    chains.bridge = [...filtered.flatMap((port) => [portChainNames(port.idHex).fromPort, portChainNames(port.idHex).toPort]), 'from_ports', 'to_ports', 'check_seen'];
  }
  if (filtered.length) {
    // Bridges of open ports too: their peers on the bridge are tracked in the same zone.
    const zoneLines = zoneChainLines(bridgeZones(entries.flatMap((entry) => (entry.port?.bridge ? [entry.port.bridge] : []))));
    parts.push(inetTable(table, filtered, zoneLines));
    chains.inet = [
      ...filtered.flatMap((port) => [portChainNames(port.idHex).egress, portChainNames(port.idHex).ingress]),
      ...(zoneLines ? ['zones'] : []), 'egress_forwarded', 'egress_local', 'ingress_forwarded',
    ];
  }
  return { table, text: `${parts.join('\n')}\n`, outcomes: entries.map((entry) => entry.outcome), chains };
}
