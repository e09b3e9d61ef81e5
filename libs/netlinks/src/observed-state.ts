/**
 * Parses what iproute2 says into ObservedLink / ObservedFdbEntry values: `ip -json -d link show`
 * and `bridge -json fdb show` (iproute2 6.1's field names). Pure; unknown fields are ignored and
 * a missing one reads as absent, so a newer iproute2 that adds fields changes nothing.
 */
import { ObservedFdbEntry, ObservedLink } from './data-plane-types';

type Json = Record<string, unknown>;

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const obj = (value: unknown): Json | undefined => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined);

function parseArray(text: string, what: string): Json[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const value: unknown = JSON.parse(trimmed);
  if (!Array.isArray(value)) throw new Error(`${what} did not print a JSON array`);
  return value.map(obj).filter((item): item is Json => item !== undefined);
}

export function parseLinks(text: string): ObservedLink[] {
  return parseArray(text, 'ip -json -d link show').flatMap((raw): ObservedLink[] => {
    const name = str(raw.ifname);
    if (!name) return [];
    const info = obj(raw.linkinfo);
    const kind = str(info?.info_kind);
    const data = obj(info?.info_data) ?? {};
    const flags = Array.isArray(raw.flags) ? raw.flags : [];
    const link: ObservedLink = { name, mtu: num(raw.mtu) ?? 0, up: flags.includes('UP') };
    if (kind) link.kind = kind;
    if (str(raw.master)) link.master = str(raw.master);
    if (str(raw.address)) link.address = str(raw.address)!.toLowerCase();
    if (kind === 'vxlan') {
      link.vxlan = {
        vni: num(data.id) ?? -1, learning: data.learning !== false,
        ...(str(data.local) ? { local: str(data.local) } : {}),
        ...(num(data.port) !== undefined ? { port: num(data.port) } : {}),
        ...(str(data.link) ? { device: str(data.link) } : {}),
      };
    }
    // A VLAN's parent is the top-level `link` (for a veth that field names the peer instead).
    if (kind === 'vlan') link.vlan = { id: num(data.id) ?? -1, ...(str(raw.link) ? { parent: str(raw.link) } : {}) };
    if (kind === 'tun') {
      const owner = data.user === undefined ? undefined : String(data.user);
      link.tun = { type: str(data.type) ?? '', multiQueue: data.multi_queue === true, ...(owner !== undefined ? { owner } : {}) };
    }
    return [link];
  });
}

/** Only entries that name a remote (`dst`): those are the ones a VXLAN device floods or sends to. */
export function parseFdb(text: string): ObservedFdbEntry[] {
  return parseArray(text, 'bridge -json fdb show').flatMap((raw): ObservedFdbEntry[] => {
    const device = str(raw.ifname);
    const mac = str(raw.mac);
    const dst = str(raw.dst);
    return device && mac && dst ? [{ device, mac: mac.toLowerCase(), dst }] : [];
  });
}
