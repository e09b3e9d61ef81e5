/**
 * Compares what the kernel holds (`nft -j list ruleset`) with what the firewall should hold:
 * chains of ports that are gone (or our tables when no port remains) are leaks; chains that should
 * be there and are not are missing. Pure.
 */
import { InternalError } from '@nubo/contracts';

export type FirewallFamily = 'bridge' | 'inet';

export interface FirewallObject {
  family: FirewallFamily;
  kind: 'table' | 'chain';
  name: string;
}

export interface FirewallListing {
  table: string;
  /** Our tables that exist, by family. */
  tables: FirewallFamily[];
  chains: Array<{ family: FirewallFamily; name: string }>;
}

export interface FirewallDrift {
  leaked: FirewallObject[];
  missing: FirewallObject[];
}

const FAMILIES: FirewallFamily[] = ['bridge', 'inet'];

type NftJsonItem = { table?: { family: string; name: string }; chain?: { family: string; table: string; name: string } };

/** Our tables and their chains in the JSON of `nft -j list ruleset` (other tables are ignored). */
export function parseListing(json: string, table: string): FirewallListing {
  let items: NftJsonItem[];
  try {
    items = (JSON.parse(json) as { nftables?: NftJsonItem[] }).nftables ?? [];
  } catch {
    throw new InternalError('nft -j printed something that is not JSON');
  }
  const ours = (family: string): family is FirewallFamily => (FAMILIES as string[]).includes(family);
  const listing: FirewallListing = { table, tables: [], chains: [] };
  for (const item of items) {
    if (item.table && item.table.name === table && ours(item.table.family)) listing.tables.push(item.table.family);
    const chain = item.chain;
    if (chain && chain.table === table && ours(chain.family)) listing.chains.push({ family: chain.family, name: chain.name });
  }
  return listing;
}

/** `expected`: the chains compiled for the ports that remain (empty lists: no table at all). */
export function findDrift(listing: FirewallListing, expected: Record<FirewallFamily, string[]>): FirewallDrift {
  const drift: FirewallDrift = { leaked: [], missing: [] };
  for (const family of FAMILIES) {
    const present = listing.tables.includes(family);
    const wanted = new Set(expected[family]);
    if (present && wanted.size === 0) drift.leaked.push({ family, kind: 'table', name: listing.table });
    if (!present && wanted.size > 0) drift.missing.push({ family, kind: 'table', name: listing.table });
    const have = new Set(listing.chains.filter((chain) => chain.family === family).map((chain) => chain.name));
    for (const name of [...have].sort()) if (!wanted.has(name)) drift.leaked.push({ family, kind: 'chain', name });
    for (const name of [...wanted].sort()) if (!have.has(name)) drift.missing.push({ family, kind: 'chain', name });
  }
  return drift;
}
