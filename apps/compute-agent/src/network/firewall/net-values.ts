/**
 * Parsers for the values a tenant controls (MACs, addresses, prefixes, ids, interface names).
 * Each returns a canonical text printed by us from parsed numbers, so nothing a tenant typed
 * reaches the nftables ruleset verbatim. Pure; every failure is a ValidationError naming the field.
 */
import { ValidationError } from '@nubo/contracts';

export type IpFamily = 4 | 6;

export interface IpPrefix {
  family: IpFamily;
  /** The network address, host bits cleared. */
  address: bigint;
  length: number;
  /** `10.0.0.5`, `10.0.0.0/24`, `2001:db8::/64`: a full-length prefix prints without `/n`. */
  text: string;
}

const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);

function fail(field: string, message: string): never {
  throw new ValidationError(`${field} ${message}`, field);
}

/** `aa:bb:cc:dd:ee:ff` (or with dashes, any case) -> lowercase with colons; unicast only. */
export function parseMac(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(value)) {
    fail(field, 'must be a MAC address like fa:16:3e:00:00:01');
  }
  const octets = value.split(/[:-]/).map((part) => parseInt(part, 16));
  if (octets[0] & 1) fail(field, 'must be a unicast MAC address');
  if (octets.every((octet) => octet === 0)) fail(field, 'must not be 00:00:00:00:00:00');
  return octets.map((octet) => octet.toString(16).padStart(2, '0')).join(':');
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // No leading zeros: `010` is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6Groups(text: string): number[] | undefined {
  if (text === '') return [];
  const groups: number[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseIpv6Groups(halves[0]);
  const tail = halves.length === 2 ? parseIpv6Groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** RFC 5952: lowercase, no leading zeros, the longest run (2+) of zero groups as `::`. */
function formatIpv6(value: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((value >> shift) & 0xffffn));
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

export function formatAddress(family: IpFamily, value: bigint): string {
  return family === 4 ? formatIpv4(value) : formatIpv6(value);
}

/**
 * An address or a CIDR (`10.0.0.5`, `10.0.0.0/24`, `2001:db8::1`, `2001:db8::/64`). Host bits of a
 * CIDR are cleared (Neutron normalises remote_ip_prefix the same way). With `hostOnly`, a prefix
 * shorter than the full length is refused.
 */
export function parseIpPrefix(value: unknown, field: string, options: { hostOnly?: boolean } = {}): IpPrefix {
  const expected = options.hostOnly ? 'an IP address' : 'an IP address or CIDR';
  if (typeof value !== 'string' || value.length > 64 || !/^[0-9a-fA-F:.]+(\/[0-9]{1,3})?$/.test(value)) {
    fail(field, `must be ${expected}`);
  }
  const [addressText, lengthText] = value.split('/');
  const family: IpFamily = addressText.includes(':') ? 6 : 4;
  const parsed = family === 4 ? parseIpv4(addressText) : parseIpv6(addressText);
  if (parsed === undefined) fail(field, `must be ${expected}`);
  const bits = bitsOf(family);
  const length = lengthText === undefined ? bits : Number(lengthText);
  if (!/^(0|[1-9][0-9]*)$/.test(lengthText ?? '0') || length > bits) fail(field, `has an invalid prefix length for IPv${family}`);
  if (options.hostOnly && length !== bits) fail(field, 'must be a single IP address, not a network');
  const hostBits = BigInt(bits - length);
  const address = (parsed >> hostBits) << hostBits;
  const text = length === bits ? formatAddress(family, address) : `${formatAddress(family, address)}/${length}`;
  return { family, address, length, text };
}

/** Whether `outer` contains every address of `inner`. */
export function prefixCovers(outer: IpPrefix, inner: IpPrefix): boolean {
  if (outer.family !== inner.family || outer.length > inner.length) return false;
  const hostBits = BigInt(bitsOf(outer.family) - outer.length);
  return inner.address >> hostBits === outer.address >> hostBits;
}

/** The prefixes with those covered by another removed (a set of prefixes, sorted, minimal). */
export function minimalPrefixes(prefixes: IpPrefix[]): IpPrefix[] {
  const sorted = [...prefixes].sort((a, b) => a.length - b.length || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const kept: IpPrefix[] = [];
  for (const prefix of sorted) if (!kept.some((outer) => prefixCovers(outer, prefix))) kept.push(prefix);
  return kept.sort((a, b) => a.family - b.family || (a.address < b.address ? -1 : a.address > b.address ? 1 : a.length - b.length));
}

/** The IPv6 link-local address a guest derives from its MAC (modified EUI-64). */
export function linkLocalOf(mac: string): IpPrefix {
  const octets = mac.split(':').map((part) => BigInt(parseInt(part, 16)));
  const eui = [octets[0] ^ 2n, octets[1], octets[2], 0xffn, 0xfen, octets[3], octets[4], octets[5]];
  const interfaceId = eui.reduce((acc, octet) => (acc << 8n) | octet, 0n);
  const address = (0xfe80n << 112n) | interfaceId;
  return { family: 6, address, length: 128, text: formatIpv6(address) };
}

/** A UUID (dashes optional, any case) -> its 32 lowercase hex digits. */
export function parseUuidHex(value: unknown, field: string): string {
  const hex = typeof value === 'string' && /^[0-9a-fA-F-]{32,36}$/.test(value) ? value.replace(/-/g, '').toLowerCase() : '';
  if (!/^[0-9a-f]{32}$/.test(hex)) fail(field, 'must be a UUID');
  return hex;
}

/** An interface name we can quote safely: 1-15 of [A-Za-z0-9_.-], not starting with a symbol. */
export function parseInterfaceName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(value)) {
    fail(field, 'must be an interface name of 1-15 letters, digits, dots, dashes or underscores');
  }
  return value;
}

/** An integer in [min, max]; numeric strings are not accepted (the API parsed JSON already). */
export function parseIntIn(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}
