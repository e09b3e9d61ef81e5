/**
 * plan(desired, observed) -> the ordered operations that make the host match the control plane.
 * Pure and idempotent: on a converged host it plans nothing, so an agent can re-plan whenever it
 * likes (at start: the whole host rebuilt from the control plane). It only ever creates, changes
 * or deletes devices named by link-names.ts; foreign devices are left alone, except a flat
 * network's physical interface, which it enslaves to the network's bridge.
 *
 * Order: deletions (taps, then VXLAN/VLAN devices, then bridges), creations (bridges, then
 * segments, then taps), attribute changes (`ip link set`: address, MTU, master, up), FDB changes.
 * A device whose kind or fixed settings (VNI, local address, port, learning, VLAN id, parent,
 * tap owner) differ is deleted and made again; anything else is changed in place.
 */
import { DataPlanePlan, DesiredDataPlane, KernelFeatures, LinkOp, ObservedDataPlane, ObservedLink, RefusedNetwork } from './data-plane-types';
import { ResolvedDataPlane, ResolvedNetwork, resolveDesired } from './desired-state';
import { OwnedLinkRole, ownedRole } from './link-names';

/** The all-zero MAC: VXLAN's default destination, i.e. where broadcast and unknown unicast go. */
export const FLOOD_MAC = '00:00:00:00:00:00';

interface WantedLink {
  name: string;
  /** Absent for a foreign device we only attach (a flat network's physical interface). */
  create?: LinkOp;
  /** Why the existing device cannot be fixed in place, if it cannot. */
  drift(link: ObservedLink): string | undefined;
  mtu?: number;
  master?: string;
  address?: string;
  up: boolean;
}

const DELETE_ORDER: OwnedLinkRole[] = ['tap', 'vlan', 'vxlan', 'bridge'];

function kindDrift(link: ObservedLink, kind: string): string | undefined {
  return link.kind === kind ? undefined : `is ${link.kind ? `a ${link.kind}` : 'a plain device'}, not a ${kind}`;
}

function differ(what: string, have: unknown, want: unknown): string | undefined {
  return have === want ? undefined : `${what} is ${have ?? 'unset'}, not ${want ?? 'unset'}`;
}

function firstOf(...reasons: (string | undefined)[]): string | undefined {
  return reasons.find((reason) => reason !== undefined);
}

function refusal(net: ResolvedNetwork, links: Map<string, ObservedLink>, kernel: KernelFeatures): string | undefined {
  if (net.type === 'vlan' && !kernel.vlan) {
    return `network ${net.id} is a vlan network, but this host's kernel has no 802.1q VLAN devices (module 8021q)`;
  }
  if (!net.physicalInterface) return undefined;
  const phys = links.get(net.physicalInterface);
  if (!phys) return `physical interface ${net.physicalInterface} of network ${net.id} is not on this host`;
  if (net.type === 'flat' && phys.master && ownedRole(phys.master) !== 'bridge') {
    return `physical interface ${net.physicalInterface} of network ${net.id} is already a port of ${phys.master}`;
  }
  return undefined;
}

function wantedLinks(want: ResolvedDataPlane, networks: ResolvedNetwork[]): WantedLink[] {
  const bridges = networks.map((net): WantedLink => ({
    name: net.bridge, create: { op: 'create-bridge', name: net.bridge }, mtu: net.mtu, up: true,
    drift: (link) => kindDrift(link, 'bridge'),
  }));
  const segments = networks.flatMap((net): WantedLink[] => {
    if (net.type === 'vxlan') {
      const create: LinkOp & { op: 'create-vxlan' } = {
        op: 'create-vxlan', name: net.segment!, vni: net.segmentationId!, local: want.underlayAddress!, port: want.vxlanPort,
        ...(want.underlayDevice ? { device: want.underlayDevice } : {}),
      };
      return [{
        name: net.segment!, create, mtu: net.mtu, master: net.bridge, up: true,
        drift: (link) => firstOf(kindDrift(link, 'vxlan'), differ('VNI', link.vxlan?.vni, create.vni),
          differ('local address', link.vxlan?.local, create.local), differ('UDP port', link.vxlan?.port, create.port),
          link.vxlan?.learning ? 'learns addresses' : undefined, differ('underlay device', link.vxlan?.device, create.device)),
      }];
    }
    if (net.type === 'vlan') {
      return [{
        name: net.segment!, create: { op: 'create-vlan', name: net.segment!, parent: net.physicalInterface!, vlanId: net.segmentationId! },
        mtu: net.mtu, master: net.bridge, up: true,
        drift: (link) => firstOf(kindDrift(link, 'vlan'), differ('VLAN id', link.vlan?.id, net.segmentationId),
          differ('parent', link.vlan?.parent, net.physicalInterface)),
      }];
    }
    // flat: the physical interface itself joins the bridge; its MTU and state stay the operator's.
    return [{ name: net.physicalInterface!, master: net.bridge, up: false, drift: () => undefined }];
  });
  const taps = want.ports.filter((port) => networks.includes(port.network)).map((port): WantedLink => ({
    name: port.tap, create: { op: 'create-tap', name: port.tap, ...(want.tapOwner ? { owner: want.tapOwner } : {}) },
    mtu: port.network.mtu, master: port.network.bridge, address: port.tapMac, up: true,
    drift: (link) => firstOf(link.kind === 'tun' && link.tun?.type === 'tap' ? undefined : kindDrift(link, 'tap'),
      differ('owner', link.tun?.owner, want.tapOwner), link.tun?.multiQueue ? 'is multi-queue' : undefined),
  }));
  return [...bridges, ...segments, ...taps];
}

function setOp(wanted: WantedLink, link: ObservedLink | undefined, gone: Set<string>): LinkOp | undefined {
  const master = link?.master && !gone.has(link.master) ? link.master : undefined;
  const change = {
    ...(wanted.address && wanted.address !== link?.address?.toLowerCase() ? { address: wanted.address } : {}),
    ...(wanted.mtu !== undefined && wanted.mtu !== link?.mtu ? { mtu: wanted.mtu } : {}),
    ...(wanted.master && wanted.master !== master ? { master: wanted.master } : {}),
    ...(wanted.up && !link?.up ? { up: true as const } : {}),
  };
  return Object.keys(change).length ? { op: 'set', name: wanted.name, ...change } : undefined;
}

function fdbOps(networks: ResolvedNetwork[], observed: ObservedDataPlane, fresh: Set<string>): LinkOp[] {
  return networks.filter((net) => net.type === 'vxlan').flatMap((net) => {
    const device = net.segment!;
    const have = fresh.has(device) ? [] : observed.fdb.filter((entry) => entry.device === device);
    const flooding = new Set(have.filter((entry) => entry.mac === FLOOD_MAC).map((entry) => entry.dst));
    const stale = have.filter((entry) => entry.mac !== FLOOD_MAC || !net.peers.includes(entry.dst));
    return [
      ...stale.map((entry): LinkOp => ({ op: 'fdb-del', device, mac: entry.mac, dst: entry.dst })),
      ...net.peers.filter((peer) => !flooding.has(peer)).map((dst): LinkOp => ({ op: 'fdb-add', device, mac: FLOOD_MAC, dst })),
    ];
  });
}

export function planDataPlane(desired: DesiredDataPlane, observed: ObservedDataPlane): DataPlanePlan {
  const want = resolveDesired(desired);
  const links = new Map(observed.links.map((link) => [link.name, link]));
  const refused: RefusedNetwork[] = [];
  const held = new Set<string>(); // a refused network's devices: neither made nor removed
  const networks = want.networks.filter((net) => {
    const reason = refusal(net, links, observed.kernel);
    if (reason === undefined) return true;
    refused.push({ networkId: net.id, reason });
    [net.bridge, net.segment].forEach((name) => name && held.add(name));
    want.ports.filter((port) => port.network === net).forEach((port) => held.add(port.tap));
    return false;
  });
  const wanted = wantedLinks(want, networks);
  const ours = new Map(wanted.filter((w) => ownedRole(w.name)).map((w) => [w.name, w]));

  const deletes: (LinkOp & { op: 'delete' })[] = [];
  for (const link of observed.links) {
    const role = ownedRole(link.name);
    if (!role || held.has(link.name)) continue;
    const w = ours.get(link.name);
    const reason = w ? w.drift(link) : 'not desired';
    if (reason) deletes.push({ op: 'delete', name: link.name, reason });
  }
  deletes.sort((a, b) => DELETE_ORDER.indexOf(ownedRole(a.name)!) - DELETE_ORDER.indexOf(ownedRole(b.name)!) || a.name.localeCompare(b.name));
  const gone = new Set(deletes.map((op) => op.name));
  const fresh = new Set([...ours.keys()].filter((name) => !links.has(name) || gone.has(name)));

  const creates = [...ours.values()].filter((w) => fresh.has(w.name)).map((w) => w.create!);
  const sets = wanted
    .map((w) => setOp(w, fresh.has(w.name) ? undefined : links.get(w.name), gone))
    .filter((op): op is LinkOp => op !== undefined);
  return { ops: [...deletes, ...creates, ...sets, ...fdbOps(networks, observed, fresh)], refused };
}
