/**
 * After a networking e2e spec has deleted what it made: nothing of those networks, ports and
 * routers may remain in the kernel of the e2e cloud. Looked for, by the names derived from the ids
 * (libs/netlinks, the firewall's port chains, the DHCP and router names of apps/network):
 *   every host namespace (<cloud>-hN) and the network node (<cloud>-net):
 *     links   nb-/nv-/nl-/nd-<network>, nt-<port>, nrq-/nrg-/qr-/qg-<port, 11 hex>
 *     FDB     entries on those devices, or for a recorded port MAC
 *     nft     chains, maps, sets, elements and rules naming a port (o_/t_/e_/i_<port>, its tap)
 *             or a network's bridge (conntrack zones)
 *   the machine: namespaces <cloud>-qdhcp-<network> and <cloud>-qrouter-<router>, dnsmasq
 *   processes and state folders of those networks.
 * Deletion reaches the hosts asynchronously, so the check is retried until it holds or times out.
 * Parsing is pure and unit-tested (network-leaks.spec.ts).
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './cloud';
import { E2E } from './e2e-env';

const exec = promisify(execFile);

export interface NetworkIds {
  networks: Iterable<string>;
  ports: Iterable<string>;
  routers: Iterable<string>;
  /** MACs of the ports, when known: learned or static FDB entries for them anywhere are leaks. */
  macs?: Iterable<string>;
}

/** Everything the ids name, derived the way the product derives it. */
export interface LeakNames {
  links: Set<string>;
  namespaces: Set<string>;
  /** Strings that name one of the ids inside an nftables ruleset. */
  nftTokens: string[];
  macs: Set<string>;
}

const hex = (id: string) => {
  const h = id.toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(h)) throw new Error(`not a UUID: ${id}`);
  return h;
};

export function leakNames(ids: NetworkIds, cloud: string): LeakNames {
  const links = new Set<string>();
  const namespaces = new Set<string>();
  const nftTokens: string[] = [];
  for (const id of ids.networks) {
    const h = hex(id).slice(0, 12);
    for (const prefix of ['nb-', 'nv-', 'nl-', 'nd-']) links.add(`${prefix}${h}`);
    namespaces.add(`${cloud}-qdhcp-${h}`);
    nftTokens.push(`nb-${h}`, `nv-${h}`);
  }
  for (const id of ids.ports) {
    const h = hex(id);
    links.add(`nt-${h.slice(0, 12)}`);
    for (const prefix of ['nrq-', 'nrg-', 'qr-', 'qg-']) links.add(`${prefix}${h.slice(0, 11)}`);
    nftTokens.push(h, `nt-${h.slice(0, 12)}`);
  }
  for (const id of ids.routers) namespaces.add(`${cloud}-qrouter-${id.toLowerCase()}`);
  return { links, namespaces, nftTokens, macs: new Set([...(ids.macs ?? [])].map((m) => m.toLowerCase())) };
}

const jsonArray = (text: string): Array<Record<string, unknown>> => (text.trim() ? (JSON.parse(text) as Array<Record<string, unknown>>) : []);

/** Leaked devices in `ip -j link show` output. */
export function linkLeaks(where: string, json: string, names: LeakNames): string[] {
  return jsonArray(json).map((l) => String(l.ifname)).filter((n) => names.links.has(n)).map((n) => `${where}: link ${n}`);
}

/** Leaked entries in `bridge -j fdb show` output: on a leaked device, or for a port's MAC. */
export function fdbLeaks(where: string, json: string, names: LeakNames): string[] {
  return jsonArray(json).flatMap((e) => {
    const mac = String(e.mac ?? '').toLowerCase();
    const device = String(e.ifname ?? '');
    const master = String(e.master ?? '');
    if (!names.links.has(device) && !names.links.has(master) && !names.macs.has(mac)) return [];
    return [`${where}: fdb ${mac} on ${device}${e.dst ? ` dst ${e.dst}` : ''}${master ? ` master ${master}` : ''}`];
  });
}

/** Objects of `nft -j list ruleset` whose JSON names a token (chains, maps, sets, their elements, rules). */
export function nftLeaks(where: string, json: string, names: LeakNames): string[] {
  const items = ((JSON.parse(json) as { nftables?: Array<Record<string, Record<string, unknown>>> }).nftables ?? []);
  return items.flatMap((item) => {
    const [kind] = Object.keys(item);
    if (kind === 'metainfo' || kind === 'table') return [];
    const body = item[kind];
    const text = JSON.stringify(body);
    const tokens = names.nftTokens.filter((t) => text.includes(t));
    if (tokens.length === 0) return [];
    const name = kind === 'rule' ? `in chain ${String(body.chain)}` : String(body.name);
    return [`${where}: nft ${kind} ${String(body.family)} ${String(body.table)} ${name} names ${[...new Set(tokens)].join(', ')}`];
  });
}

/** Leaked namespaces in `ip netns list` output ("name" or "name (id: 3)" a line). */
export function namespaceLeaks(text: string, names: LeakNames): string[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n && names.namespaces.has(n)).map((n) => `netns ${n}`);
}

/** dnsmasq processes (argv from /proc/<pid>/cmdline) that name a leaked namespace. */
export function dnsmasqLeaks(processes: Array<{ pid: number; argv: string[] }>, names: LeakNames): string[] {
  return processes.flatMap(({ pid, argv }) => {
    if (!argv.length || basename(argv[0]) !== 'dnsmasq') return [];
    const named = [...names.namespaces].filter((ns) => argv.some((a) => a.includes(`/${ns}/`) || a === ns));
    return named.length ? [`dnsmasq pid ${pid} of ${named.join(', ')}`] : [];
  });
}

async function run(cmd: string, args: string[]): Promise<string> {
  return (await exec(cmd, args, { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

async function processes(): Promise<Array<{ pid: number; argv: string[] }>> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline) out.push({ pid: Number(entry), argv: cmdline.split('\0').filter(Boolean) });
  }
  return out;
}

export interface LeakScope {
  cloud?: string;
  /** The network service's dnsmasq state dir. */
  dhcpStateDir?: string;
}

/** Every leak of `ids` now (an empty list when none). Throws when there is no namespace to look in. */
export async function findNetworkLeaks(ids: NetworkIds, scope: LeakScope = {}): Promise<string[]> {
  const cloud = scope.cloud ?? E2E.NUBO_CLOUD_NAME;
  const stateDir = scope.dhcpStateDir ?? join(E2E.NUBO_STATE_DIR, 'network');
  const names = leakNames(ids, cloud);
  const netnsList = await run('ip', ['netns', 'list']);
  const all = netnsList.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
  const machines = all.filter((n) => n === `${cloud}-net` || new RegExp(`^${cloud}-h\\d+$`).test(n));
  if (!machines.some((n) => n !== `${cloud}-net`) || !machines.includes(`${cloud}-net`)) {
    throw new Error(`no host or network node namespace of cloud ${cloud} to look in (namespaces: ${all.join(' ')})`);
  }
  const leaks = namespaceLeaks(netnsList, names);
  for (const ns of machines) {
    leaks.push(...linkLeaks(ns, await run('ip', ['-n', ns, '-j', 'link', 'show']), names));
    leaks.push(...fdbLeaks(ns, await run('ip', ['netns', 'exec', ns, 'bridge', '-j', 'fdb', 'show']), names));
    leaks.push(...nftLeaks(ns, await run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset']), names));
  }
  leaks.push(...dnsmasqLeaks(await processes(), names));
  const folders = await readdir(stateDir).catch(() => [] as string[]);
  leaks.push(...folders.filter((f) => names.namespaces.has(f)).map((f) => `dnsmasq state ${join(stateDir, f)}`));
  return leaks;
}

/** Waits (deletion is asynchronous) until nothing of `ids` is left; fails listing what is. */
export async function expectNoNetworkLeaks(ids: NetworkIds, o: LeakScope & { timeoutMs?: number } = {}): Promise<void> {
  await eventually('no kernel object of the deleted networks, ports and routers', async () => {
    const leaks = await findNetworkLeaks(ids, o);
    if (leaks.length) throw new Error(`left behind:\n  ${leaks.join('\n  ')}`);
    return true;
  }, o.timeoutMs ?? 60_000);
}

/**
 * Records the ids a spec makes (a network, a port, a router, the ports of a server or a router),
 * so that its afterAll, after the cleanup, calls `expectNoLeaks()` once.
 */
export class NetworkIdRecorder implements NetworkIds {
  readonly networks = new Set<string>();
  readonly ports = new Set<string>();
  readonly routers = new Set<string>();
  readonly macs = new Set<string>();

  network(id: string): string {
    this.networks.add(id);
    return id;
  }

  port(id: string, mac?: string): string {
    this.ports.add(id);
    if (mac) this.macs.add(mac);
    return id;
  }

  router(id: string): string {
    this.routers.add(id);
    return id;
  }

  /** Records the ports bound to a server or a router (`device_id`), and returns them. */
  async portsOf(api: OpenStackClient, deviceId: string): Promise<Array<{ id: string; mac_address: string; [k: string]: any }>> {
    const { ports } = await api.call('GET', `/network/v2.0/ports?device_id=${deviceId}`, 200);
    for (const p of ports) this.port(p.id, p.mac_address);
    return ports;
  }

  expectNoLeaks(o: LeakScope & { timeoutMs?: number } = {}): Promise<void> {
    return expectNoNetworkLeaks(this, o);
  }
}
