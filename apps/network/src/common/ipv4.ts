/** IPv4 arithmetic for subnets and IPAM: addresses as unsigned 32-bit numbers. Pure, no I/O. */

export interface Cidr {
  network: number;
  prefix: number;
}
export interface Range {
  first: number;
  last: number;
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The address as a number, or undefined when it is not a dotted-quad IPv4 address. */
export function parseIp(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = DOTTED.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith('0')))) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `a.b.c.d/n` as given (host bits possibly set), or undefined when malformed. */
export function parseCidrLoose(text: unknown): { address: number; prefix: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const [ip, len, ...rest] = text.split('/');
  const address = parseIp(ip);
  if (address === undefined || rest.length || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  return { address, prefix: Number(len) };
}

export function networkOf(address: number, prefix: number): number {
  return (address & mask(prefix)) >>> 0;
}

export function rangeOf(c: Cidr): Range {
  return { first: c.network, last: (c.network | ~mask(c.prefix)) >>> 0 };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.network)}/${c.prefix}`;
}

export function contains(c: Cidr, address: number): boolean {
  return networkOf(address, c.prefix) === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return networkOf(a.network, p) === networkOf(b.network, p);
}

/** The addresses a port may hold: all but the network and broadcast addresses (both kept on /31 and /32). */
export function usableRange(c: Cidr): Range {
  const r = rangeOf(c);
  return c.prefix >= 31 ? r : { first: r.first + 1, last: r.last - 1 };
}

/** Neutron's default pools: the usable range minus the gateway. */
export function defaultPools(c: Cidr, gateway: number | null): Range[] {
  const u = usableRange(c);
  if (gateway === null || gateway < u.first || gateway > u.last) return [u];
  return [
    { first: u.first, last: gateway - 1 },
    { first: gateway + 1, last: u.last },
  ].filter((r) => r.first <= r.last);
}

export function rangesOverlap(a: Range, b: Range): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/** The first address of the pools that is not in `taken`, or undefined when they are full. */
export function firstFree(pools: Range[], taken: Set<number>): number | undefined {
  for (const pool of [...pools].sort((a, b) => a.first - b.first)) {
    for (let ip = pool.first; ip <= pool.last; ip++) {
      if (!taken.has(ip)) return ip;
    }
  }
  return undefined;
}
