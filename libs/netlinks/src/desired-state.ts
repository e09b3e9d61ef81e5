/**
 * Checks the desired state and resolves it into the devices it means (names, MTUs, peers). A bad
 * desired state is the control plane's bug, not the host's: it throws a ValidationError naming the
 * field, and nothing is planned. Pure.
 */
import { ValidationError } from '@nubo/contracts';
import { isIP } from 'node:net';
import { DesiredDataPlane, DesiredNetwork, TenantNetworkType } from './data-plane-types';
import { OWNED_LINK, bridgeName, idHex, tapMac, tapName, vlanName, vxlanName } from './link-names';

export const DEFAULT_VXLAN_PORT = 4789;
export const DEFAULT_MTU: Record<TenantNetworkType, number> = { vxlan: 1450, flat: 1500, vlan: 1500 };

export interface ResolvedNetwork {
  id: string;
  type: TenantNetworkType;
  mtu: number;
  bridge: string;
  /** vxlan: its VXLAN device; vlan: its sub-interface; flat: none (the physical one is foreign). */
  segment?: string;
  segmentationId?: number;
  physicalInterface?: string;
  /** vxlan: sorted, deduplicated, without this host's own address. */
  peers: string[];
}

export interface ResolvedPort {
  id: string;
  network: ResolvedNetwork;
  tap: string;
  tapMac: string;
}

export interface ResolvedDataPlane {
  underlayAddress?: string;
  underlayDevice?: string;
  vxlanPort: number;
  tapOwner?: string;
  networks: ResolvedNetwork[];
  ports: ResolvedPort[];
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** What the kernel accepts in a name (dev_valid_name), minus anything a shell or ip could misread. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const OWNER = /^[a-z_][a-z0-9_-]{0,31}$|^[0-9]{1,10}$/;

function int(value: unknown, min: number, max: number, field: string): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new ValidationError(`${field} must be an integer from ${min} to ${max}`, field);
  }
  return value as number;
}

function ifname(value: unknown, field: string): string {
  if (typeof value !== 'string' || !IFNAME.test(value)) throw new ValidationError(`${field} must be an interface name ([A-Za-z0-9_.-], at most 15)`, field);
  return value;
}

function resolveNetwork(net: DesiredNetwork, i: number, desired: DesiredDataPlane): ResolvedNetwork {
  const field = `networks[${i}]`;
  if (!net || typeof net !== 'object') throw new ValidationError(`${field} must be an object`, field);
  idHex(net.id, `${field}.id`);
  const bridge = bridgeName(net.id);
  if (!['vxlan', 'flat', 'vlan'].includes(net.type)) throw new ValidationError(`${field}.type must be vxlan, flat or vlan`, `${field}.type`);
  const mtu = net.mtu === undefined ? DEFAULT_MTU[net.type] : int(net.mtu, 68, 65535, `${field}.mtu`);
  const base = { id: net.id, type: net.type, mtu, bridge, peers: [] as string[] };
  if (net.type === 'vxlan') {
    const vni = int(net.segmentationId, 1, 16_777_215, `${field}.segmentationId`);
    if (!desired.underlayAddress) throw new ValidationError('underlayAddress is required for vxlan networks', 'underlayAddress');
    const peers = (net.peers ?? []).map((peer, j) => {
      if (isIP(peer) === 0) throw new ValidationError(`${field}.peers[${j}] must be an IP address`, `${field}.peers[${j}]`);
      return peer;
    });
    const others = [...new Set(peers)].filter((peer) => peer !== desired.underlayAddress).sort();
    return { ...base, segment: vxlanName(net.id), segmentationId: vni, peers: others };
  }
  const physicalInterface = ifname(net.physicalInterface, `${field}.physicalInterface`);
  if (OWNED_LINK.test(physicalInterface)) throw new ValidationError(`${field}.physicalInterface names one of Nubo's own devices`, `${field}.physicalInterface`);
  if (net.type === 'vlan') {
    const vlanId = int(net.segmentationId, 1, 4094, `${field}.segmentationId`);
    return { ...base, segment: vlanName(net.id), segmentationId: vlanId, physicalInterface };
  }
  return { ...base, physicalInterface };
}

function unique<T>(items: T[], key: (item: T) => string, what: (item: T, i: number) => [string, string]): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) throw new ValidationError(...what(item, i));
    seen.add(k);
  });
}

export function resolveDesired(desired: DesiredDataPlane): ResolvedDataPlane {
  if (desired.underlayAddress !== undefined && isIP(desired.underlayAddress) === 0) {
    throw new ValidationError('underlayAddress must be an IP address', 'underlayAddress');
  }
  const underlayDevice = desired.underlayDevice === undefined ? undefined : ifname(desired.underlayDevice, 'underlayDevice');
  const vxlanPort = desired.vxlanPort === undefined ? DEFAULT_VXLAN_PORT : int(desired.vxlanPort, 1, 65535, 'vxlanPort');
  if (desired.tapOwner !== undefined && !OWNER.test(desired.tapOwner)) throw new ValidationError('tapOwner must be a user name or uid', 'tapOwner');
  const networks = (desired.networks ?? []).map((net, i) => resolveNetwork(net, i, desired));
  unique(networks, (n) => n.bridge, (_, i) => [`networks[${i}].id names the same devices as another network`, `networks[${i}].id`]);
  const vxlans = networks.filter((n) => n.type === 'vxlan');
  unique(vxlans, (n) => String(n.segmentationId), (n) => [`segmentation id ${n.segmentationId} is used by two vxlan networks`, 'segmentationId']);
  const flats = networks.filter((n) => n.type === 'flat');
  unique(flats, (n) => n.physicalInterface!, (n) => [`physical interface ${n.physicalInterface} is bridged by two flat networks`, 'physicalInterface']);
  const vlans = networks.filter((n) => n.type === 'vlan');
  unique(vlans, (n) => `${n.physicalInterface}.${n.segmentationId}`, (n) => [`vlan ${n.segmentationId} on ${n.physicalInterface} is used by two networks`, 'segmentationId']);
  const flatPhys = new Set(flats.map((n) => n.physicalInterface));
  const shared = vlans.find((n) => flatPhys.has(n.physicalInterface));
  if (shared) throw new ValidationError(`physical interface ${shared.physicalInterface} cannot be both bridged (flat) and a vlan parent`, 'physicalInterface');
  const byId = new Map(networks.map((n) => [n.id, n]));
  const ports = (desired.ports ?? []).map((port, i) => {
    const field = `ports[${i}]`;
    idHex(port?.id, `${field}.id`);
    const network = byId.get(port?.networkId);
    if (!network) throw new ValidationError(`${field}.networkId names no network of this host`, `${field}.networkId`);
    const mac = typeof port.mac === 'string' ? port.mac.toLowerCase() : '';
    if (!MAC.test(mac) || parseInt(mac.slice(0, 2), 16) & 1) throw new ValidationError(`${field}.mac must be a unicast MAC`, `${field}.mac`);
    return { id: port.id, network, tap: tapName(port.id), tapMac: tapMac(mac) };
  });
  unique(ports, (p) => p.tap, (_, i) => [`ports[${i}].id names the same tap as another port`, `ports[${i}].id`]);
  return { underlayAddress: desired.underlayAddress, underlayDevice, vxlanPort, tapOwner: desired.tapOwner, networks, ports };
}
