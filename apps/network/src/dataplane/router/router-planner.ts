/**
 * From a validated `RouterPlan` and what the kernel holds, the `ip` commands (argv after `ip`)
 * that make the router namespace match: nothing for a router already right. Pure.
 */
import { inNetns } from './router-commands';
import { LinkPlan, RouterPlan } from './router-spec';
import { ObservedLink, ObservedPeer, ObservedRouter } from './router-observer';

/** Our peers by the namespace they live in ('' for the service's own). */
export type PeerView = Map<string, ObservedPeer[]>;

export const peerKey = (netns: string | undefined): string => netns ?? '';

export function planRouter(plan: RouterPlan, observed: ObservedRouter | undefined, peers: PeerView): string[][] {
  const ns = plan.namespace;
  const steps: { create: string[][]; deleteLinks: string[][]; deleteAddrs: string[][]; setup: string[][]; addAddrs: string[][]; route: string[][] } =
    { create: [], deleteLinks: [], deleteAddrs: [], setup: [], addAddrs: [], route: [] };
  if (!observed) steps.create.push(['netns', 'add', ns], ['-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
  // ip_forward in this namespace only; the host's own setting is never touched.
  if (!observed?.forwarding) steps.create.push(['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);

  const desired = [...plan.internal, ...(plan.gateway ? [plan.gateway] : [])];
  const wanted = new Set(desired.map((l) => l.name));
  for (const link of observed?.links ?? []) if (!wanted.has(link.name)) steps.deleteLinks.push(['-n', ns, 'link', 'del', 'dev', link.name]);

  let gatewayChanged = false;
  for (const link of desired) {
    const have = observed?.links.find((l) => l.name === link.name);
    const peer = peers.get(peerKey(link.bridgeNetns))?.find((p) => p.name === link.peer);
    const recreate = !!have && !peer; // the peer is gone from the bridge's namespace: the bridge moved
    if (recreate) steps.deleteLinks.push(['-n', ns, 'link', 'del', 'dev', link.name]);
    const current = recreate ? undefined : have;
    const changed = planLink(ns, link, current, recreate ? undefined : peer, steps);
    if (changed && link === plan.gateway) gatewayChanged = true;
  }

  const gw = plan.gateway;
  const route = observed?.defaultRoute;
  if (gw?.nextHop) {
    if (gatewayChanged || route?.via !== gw.nextHop || route?.dev !== gw.name) steps.route.push(['-n', ns, 'route', 'replace', 'default', 'via', gw.nextHop, 'dev', gw.name]);
  } else if (route && wanted.has(route.dev)) {
    steps.route.push(['-n', ns, 'route', 'del', 'default']);
  }
  return [...steps.create, ...steps.deleteLinks, ...steps.deleteAddrs, ...steps.setup, ...steps.addAddrs, ...steps.route];
}

/** Steps for one link; true when anything about it changes. */
function planLink(
  ns: string, link: LinkPlan, have: ObservedLink | undefined, peer: ObservedPeer | undefined,
  steps: { create: string[][]; deleteAddrs: string[][]; setup: string[][]; addAddrs: string[][] },
): boolean {
  const mtu = link.mtu === undefined ? [] : ['mtu', String(link.mtu)];
  const before = steps.deleteAddrs.length + steps.setup.length + steps.addAddrs.length;
  if (!have) {
    // Both ends at once: made in the bridge's namespace, our end sent straight into the router's.
    steps.setup.push([...inNetns(link.bridgeNetns), 'link', 'add', link.peer, ...mtu, 'type', 'veth', 'peer', 'name', link.name, 'netns', ns]);
    steps.setup.push(['-n', ns, 'link', 'set', 'dev', link.name, 'address', link.mac, ...mtu, 'up']);
  } else {
    const fix = [
      ...(have.mac !== link.mac ? ['address', link.mac] : []),
      ...(link.mtu !== undefined && have.mtu !== link.mtu ? mtu : []),
    ];
    if (fix.length || !have.up) steps.setup.push(['-n', ns, 'link', 'set', 'dev', link.name, ...fix, 'up']);
  }
  if (!have || !peer || peer.master !== link.bridge || !peer.up || (link.mtu !== undefined && peer.mtu !== link.mtu)) {
    steps.setup.push([...inNetns(link.bridgeNetns), 'link', 'set', 'dev', link.peer, 'master', link.bridge, ...mtu, 'up']);
  }
  const present = new Set(have?.addresses ?? []);
  for (const a of have?.addresses ?? []) if (!link.addresses.includes(a)) steps.deleteAddrs.push(['-n', ns, 'addr', 'del', a, 'dev', link.name]);
  for (const a of link.addresses) if (!present.has(a)) steps.addAddrs.push(['-n', ns, 'addr', 'add', a, 'dev', link.name]);
  return !have || steps.deleteAddrs.length + steps.setup.length + steps.addAddrs.length > before;
}

/** Removing a router: our links first (their peers leave the bridges at once), then the namespace. */
export function planRemoval(observed: ObservedRouter): string[][] {
  return [...observed.links.map((l) => ['-n', observed.namespace, 'link', 'del', 'dev', l.name]), ['netns', 'del', observed.namespace]];
}
