/**
 * Reads what the kernel holds for the routers: our namespaces, the links, addresses and default
 * route inside one, ip_forward there, and our veth peers in a bridge namespace (`ip -json`).
 */
import { RouterCommandRunner, inNetns } from './router-commands';
import { isRouterLink, isRouterPeer } from './router-names';

export interface ObservedLink {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  /** IPv4 addresses `a.b.c.d/n`. */
  addresses: string[];
}

export interface ObservedRouter {
  namespace: string;
  forwarding: boolean;
  /** Our qr-/qg- links only. */
  links: ObservedLink[];
  defaultRoute?: { via: string; dev: string };
}

export interface ObservedPeer {
  name: string;
  master?: string;
  mtu: number;
  up: boolean;
}

interface IpLinkJson {
  ifname: string;
  address?: string;
  mtu: number;
  flags?: string[];
  master?: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

export function parseLinks(json: string): ObservedLink[] {
  return (JSON.parse(json || '[]') as IpLinkJson[])
    .filter((l) => isRouterLink(l.ifname))
    .map((l) => ({
      name: l.ifname, mac: (l.address ?? '').toLowerCase(), mtu: l.mtu, up: (l.flags ?? []).includes('UP'),
      addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`).sort(),
    }));
}

export function parsePeers(json: string): ObservedPeer[] {
  return (JSON.parse(json || '[]') as IpLinkJson[])
    .filter((l) => isRouterPeer(l.ifname))
    .map((l) => ({ name: l.ifname, mtu: l.mtu, up: (l.flags ?? []).includes('UP'), ...(l.master ? { master: l.master } : {}) }));
}

/** `ip netns list` lines are `name` or `name (id: N)`. */
export function parseNetnsList(text: string): string[] {
  return text.split('\n').map((line) => line.trim().split(' ')[0]).filter(Boolean);
}

export class RouterObserver {
  constructor(private readonly runner: RouterCommandRunner) {}

  async namespaces(prefix: string): Promise<string[]> {
    return parseNetnsList(await this.runner.run('ip', ['netns', 'list'])).filter((n) => n.startsWith(prefix));
  }

  async router(namespace: string): Promise<ObservedRouter> {
    const links = parseLinks(await this.runner.run('ip', ['-n', namespace, '-json', 'addr', 'show']));
    const routes = JSON.parse((await this.runner.run('ip', ['-n', namespace, '-json', 'route', 'show', 'default'])) || '[]') as Array<{ gateway?: string; dev?: string }>;
    const forwarding = (await this.runner.run('ip', ['netns', 'exec', namespace, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim() === '1';
    const route = routes.find((r) => r.gateway && r.dev);
    return { namespace, forwarding, links, ...(route ? { defaultRoute: { via: route.gateway!, dev: route.dev! } } : {}) };
  }

  async peers(netns: string | undefined): Promise<ObservedPeer[]> {
    return parsePeers(await this.runner.run('ip', [...inNetns(netns), '-json', 'link', 'show']));
  }
}
