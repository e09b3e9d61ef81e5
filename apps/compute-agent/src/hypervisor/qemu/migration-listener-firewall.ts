/**
 * The host firewall of incoming live migrations: a migration's listener ports (QEMU's migration
 * port and the NBD port) accept the source agent's underlay address only; anyone else gets a TCP
 * reset. One table of our own per host netns:
 *
 *   table inet nubo_migration
 *     chain input     hook input, priority -10: tcp dport vmap @listeners
 *     map listeners   port -> jump mig-<migrationId>
 *     chain mig-<id>  ip saddr <source> accept; reject with tcp reset
 *
 * Opening is one atomic `nft -f` and may be repeated (a port already mapped to the same chain is
 * accepted; one mapped to another migration's chain is an error, never taken over). Closing
 * finds the migration's ports in the map itself, so it needs nothing remembered.
 */
import { ValidationError } from '@nubo/contracts';
import { isIP } from 'node:net';
import { NftRunOptions, runNft } from '../../network/firewall/nft-runner';

export const DEFAULT_MIGRATION_TABLE = 'nubo_migration';

export interface ListenerOpening {
  migrationId: string;
  sourceAddress: string;
  ports: number[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function migrationChain(migrationId: string): string {
  if (!NAME.test(migrationId)) throw new ValidationError('migrationId must be 1-64 letters, digits, - or _', 'migrationId');
  return `mig-${migrationId}`;
}

function assertTable(table: string): string {
  if (!NAME.test(table)) throw new ValidationError('table must be 1-64 letters, digits, - or _', 'table');
  return table;
}

function assertOpening(o: ListenerOpening): void {
  if (!isIP(o.sourceAddress)) throw new ValidationError('sourceAddress must be an IP address', 'sourceAddress');
  if (!o.ports.length || o.ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new ValidationError('ports must be TCP ports', 'ports');
}

/** The table's skeleton; `flush chain input` + re-add keeps its one rule single however often it runs. */
function skeleton(table: string): string[] {
  return [
    `add table inet ${table}`,
    `add chain inet ${table} input { type filter hook input priority -10; policy accept; }`,
    `add map inet ${table} listeners { type inet_service : verdict; }`,
    `flush chain inet ${table} input`,
    `add rule inet ${table} input tcp dport vmap @listeners`,
  ];
}

/** The ruleset that opens `o.ports` to `o.sourceAddress` alone (pure, golden-tested). */
export function openingRuleset(table: string, o: ListenerOpening): string {
  assertTable(table);
  assertOpening(o);
  const chain = migrationChain(o.migrationId);
  const family = isIP(o.sourceAddress) === 6 ? 'ip6' : 'ip';
  const ports = [...new Set(o.ports)].sort((a, b) => a - b);
  return [
    ...skeleton(table),
    `add chain inet ${table} ${chain}`,
    `flush chain inet ${table} ${chain}`,
    `add rule inet ${table} ${chain} ${family} saddr ${o.sourceAddress} accept`,
    `add rule inet ${table} ${chain} meta l4proto tcp reject with tcp reset`,
    `add element inet ${table} listeners { ${ports.map((p) => `${p} : jump ${chain}`).join(', ')} }`,
    '',
  ].join('\n');
}

/** The ruleset that removes a migration's ports (as found in the map) and its chain (pure). */
export function closingRuleset(table: string, migrationId: string, ports: number[]): string {
  assertTable(table);
  const chain = migrationChain(migrationId);
  return [
    ...skeleton(table),
    ...(ports.length ? [`delete element inet ${table} listeners { ${ports.join(', ')} }`] : []),
    // Created first so that deleting it cannot fail: closing twice is fine.
    `add chain inet ${table} ${chain}`,
    `delete chain inet ${table} ${chain}`,
    '',
  ].join('\n');
}

/** The ports of `listeners` that jump to `chain`, from `nft -j list map` output (pure). */
export function portsOfChain(json: string, chain: string): number[] {
  const parsed = JSON.parse(json) as { nftables?: Array<{ map?: { elem?: Array<[unknown, unknown]> } }> };
  const elems = parsed.nftables?.find((entry) => entry.map)?.map?.elem ?? [];
  return elems
    .filter(([, verdict]) => (verdict as { jump?: { target?: string } })?.jump?.target === chain)
    .map(([port]) => port)
    .filter((port): port is number => typeof port === 'number');
}

export interface MigrationFirewallOptions extends NftRunOptions {
  /** Default DEFAULT_MIGRATION_TABLE; tests use a name of their own. */
  table?: string;
}

export class MigrationListenerFirewall {
  readonly table: string;

  constructor(private readonly options: MigrationFirewallOptions = {}) {
    this.table = assertTable(options.table ?? DEFAULT_MIGRATION_TABLE);
  }

  async open(opening: ListenerOpening): Promise<void> {
    await runNft(['-f', '-'], openingRuleset(this.table, opening), this.options);
  }

  /** Removes every opening of the migration. Idempotent. */
  async close(migrationId: string): Promise<void> {
    const chain = migrationChain(migrationId);
    let ports: number[] = [];
    try {
      ports = portsOfChain(await runNft(['-j', 'list', 'map', 'inet', this.table, 'listeners'], undefined, this.options), chain);
    } catch {
      // No table or map yet: nothing was opened.
      return;
    }
    await runNft(['-f', '-'], closingRuleset(this.table, migrationId, ports), this.options);
  }

  /** Drops the whole table (tests). */
  async removeTable(): Promise<void> {
    await runNft(['-f', '-'], `add table inet ${this.table}\ndelete table inet ${this.table}\n`, this.options);
  }
}
