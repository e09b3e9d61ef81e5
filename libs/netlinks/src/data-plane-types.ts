/**
 * The host data plane as three values: what the control plane wants on this host (desired), what
 * the kernel has (observed, parsed from `ip -json -d link show` and `bridge -json fdb show`), and
 * the operations that take the second to the first (planned). Types only.
 */

export type TenantNetworkType = 'vxlan' | 'flat' | 'vlan';

export interface DesiredNetwork {
  /** The network's id (a UUID): names its devices (link-names.ts). */
  id: string;
  type: TenantNetworkType;
  /** vxlan: the VNI (1..16777215); vlan: the 802.1q id (1..4094); flat: unused. */
  segmentationId?: number;
  /** Default 1450 for vxlan (50 bytes of VXLAN over a 1500 underlay), 1500 otherwise. */
  mtu?: number;
  /** flat: the host interface bridged as it is; vlan: the parent of the sub-interface. Not ours. */
  physicalInterface?: string;
  /** vxlan: underlay addresses of the other hosts that have ports on this network. */
  peers?: string[];
}

export interface DesiredPort {
  /** The port's id (a UUID): names its tap. */
  id: string;
  networkId: string;
  /** The guest's MAC (unicast, `xx:xx:xx:xx:xx:xx`); the tap gets it with a 0xfe first octet. */
  mac: string;
}

export interface DesiredDataPlane {
  /** This host's underlay address, the VXLAN source; required when a vxlan network is present. */
  underlayAddress?: string;
  /** The underlay device VXLAN devices are bound to (`dev`); optional. */
  underlayDevice?: string;
  /** VXLAN UDP port; default 4789 (IANA). */
  vxlanPort?: number;
  /** The user owning taps (QEMU's user), by name as `ip -d link` prints it back; absent: root only. */
  tapOwner?: string;
  networks: DesiredNetwork[];
  ports: DesiredPort[];
}

export interface ObservedLink {
  name: string;
  /** `linkinfo.info_kind`: bridge, vxlan, vlan, tun, veth...; absent for plain devices. */
  kind?: string;
  mtu: number;
  master?: string;
  /** Administratively up (the UP flag). */
  up: boolean;
  address?: string;
  vxlan?: { vni: number; local?: string; port?: number; learning: boolean; device?: string };
  vlan?: { id: number; parent?: string };
  tun?: { type: string; owner?: string; multiQueue: boolean };
}

/** An FDB entry that names a remote (`dst`): VXLAN head-end replication and static remotes. */
export interface ObservedFdbEntry {
  device: string;
  mac: string;
  dst: string;
}

export interface KernelFeatures {
  /** 802.1q sub-interfaces (`ip link add ... type vlan`). */
  vlan: boolean;
}

export interface ObservedDataPlane {
  links: ObservedLink[];
  fdb: ObservedFdbEntry[];
  kernel: KernelFeatures;
}

/** One command each; `ip link set` carries only the attributes that differ. */
export type LinkOp =
  | { op: 'delete'; name: string; reason: string }
  | { op: 'create-bridge'; name: string }
  | { op: 'create-vxlan'; name: string; vni: number; local: string; port: number; device?: string }
  | { op: 'create-vlan'; name: string; parent: string; vlanId: number }
  | { op: 'create-tap'; name: string; owner?: string }
  | { op: 'set'; name: string; address?: string; mtu?: number; master?: string; up?: true }
  | { op: 'fdb-add'; device: string; mac: string; dst: string }
  | { op: 'fdb-del'; device: string; mac: string; dst: string };

/** A network the host cannot carry as asked (missing kernel feature or interface): not planned. */
export interface RefusedNetwork {
  networkId: string;
  reason: string;
}

export interface DataPlanePlan {
  ops: LinkOp[];
  refused: RefusedNetwork[];
}
