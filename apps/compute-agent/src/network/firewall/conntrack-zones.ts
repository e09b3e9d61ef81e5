/**
 * A conntrack zone per bridge (per tenant network on the host). br_netfilter hands bridged
 * packets to the inet family with the bridge as iifname, so `ct zone set iifname map` in raw
 * prerouting, before conntrack, keeps the connections of two networks with overlapping addresses
 * apart (Neutron does the same per network). Zones come from a hash of the bridge name, probing
 * past collisions in name order: the same bridge keeps its zone across applies and agent restarts
 * unless a new bridge collides with it (then its flows are picked up again as new). Pure.
 */

/** Zones 1..65535; 0 is the host's own. */
export const MAX_ZONE = 65535;

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The zone of each bridge (names already validated). */
export function bridgeZones(bridges: Iterable<string>): Map<string, number> {
  const zones = new Map<string, number>();
  const taken = new Set<number>();
  for (const bridge of [...new Set(bridges)].sort()) {
    let zone = 1 + (fnv1a(bridge) % MAX_ZONE);
    while (taken.has(zone)) zone = (zone % MAX_ZONE) + 1;
    taken.add(zone);
    zones.set(bridge, zone);
  }
  return zones;
}

/** The raw-prerouting chain of the inet table, or nothing without bridges. */
export function zoneChainLines(zones: Map<string, number>): string[] | undefined {
  if (zones.size === 0) return undefined;
  const entries = [...zones.entries()].map(([bridge, zone]) => `"${bridge}" : ${zone}`);
  return ['type filter hook prerouting priority -300; policy accept;', `ct zone set iifname map { ${entries.join(', ')} }`];
}
