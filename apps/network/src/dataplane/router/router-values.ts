/**
 * Parsing of the tenant values that reach `ip` and `nft` argv or ruleset text: each one is parsed
 * and printed back by us, so nothing a tenant typed is ever passed through as given. Pure.
 */

export interface Ipv4Cidr {
  /** The address as given (a router port's gateway_ip keeps its host bits). */
  address: string;
  prefix: number;
  /** The network (host bits cleared), `a.b.c.d/n`. */
  network: string;
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Interface and namespace names we accept from the caller (bridges, their namespaces). */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETNS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function toNumber(text: string): number | undefined {
  const m = DOTTED.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith('0')))) return undefined;
  return (((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]) >>> 0;
}

function format(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** A dotted-quad IPv4 address re-printed, or undefined. */
export function parseIpv4(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const n = toNumber(text);
  return n === undefined ? undefined : format(n);
}

/** `a.b.c.d/n` with host bits allowed (an interface address), or undefined. */
export function parseIpv4Cidr(text: unknown): Ipv4Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const [ip, len, ...rest] = text.split('/');
  const n = toNumber(ip);
  if (n === undefined || rest.length || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  const prefix = Number(len);
  return { address: format(n), prefix, network: `${format((n & mask(prefix)) >>> 0)}/${prefix}` };
}

export function cidrContains(cidr: Ipv4Cidr, address: string): boolean {
  const n = toNumber(address);
  const net = toNumber(cidr.network.split('/')[0]);
  return n !== undefined && net !== undefined && ((n & mask(cidr.prefix)) >>> 0) === net;
}

/** A unicast MAC, lower-case with colons (dashes and upper case accepted), or undefined. */
export function parseMac(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const mac = text.toLowerCase().replace(/-/g, ':');
  if (!MAC.test(mac) || parseInt(mac.slice(0, 2), 16) & 1) return undefined;
  return mac;
}

export function parseUuid(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const id = text.toLowerCase();
  return UUID.test(id) ? id : undefined;
}

export function parseIfName(text: unknown): string | undefined {
  return typeof text === 'string' && IFNAME.test(text) ? text : undefined;
}

export function parseNetns(text: unknown): string | undefined {
  return typeof text === 'string' && NETNS.test(text) ? text : undefined;
}

/** An MTU a Linux link takes (68 is IPv4's minimum; 65535 covers jumbo frames). */
export function parseMtu(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 68 && value <= 65535 ? value : undefined;
}
