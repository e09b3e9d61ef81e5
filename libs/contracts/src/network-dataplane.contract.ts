/**
 * The network service -> agent contract for a host's tenant data plane (agent.<hostId>.network.sync).
 * The message carries the WHOLE desired state of the host (every network with ports there, every
 * port with its security rules resolved), so a sync is idempotent, a lost or repeated one is
 * harmless, and an agent that restarts is rebuilt by the next one. Device names are the agent's
 * business (derived from the ids); this carries control-plane data only.
 */
import { AgentCommand, rpc } from './rpc';

export interface NetworkPlan {
  id: string;
  type: 'vxlan' | 'vlan' | 'flat';
  /** VNI (vxlan) or 802.1q id (vlan). */
  segmentationId?: number | null;
  mtu: number;
  /** flat/vlan: Neutron's provider:physical_network; the agent maps it to an interface. */
  physicalNetwork?: string | null;
  /** vxlan: underlay addresses of the other hosts (network node included) with ports on it. */
  peers: string[];
}

export interface RulePlan {
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol?: string | number | null;
  portRangeMin?: number | null;
  portRangeMax?: number | null;
  remoteIpPrefix?: string | null;
  /** remote_group_id expanded into the members' fixed addresses (the network service does it). */
  remoteGroupPrefixes?: string[] | null;
}

export interface PortPlan {
  id: string;
  networkId: string;
  mac: string;
  fixedIps: string[];
  allowedAddressPairs: Array<{ ipAddress: string; macAddress?: string | null }>;
  portSecurityEnabled: boolean;
  /** The rules of all the port's security groups. */
  rules: RulePlan[];
}

export interface HostNetworkState {
  networks: NetworkPlan[];
  ports: PortPlan[];
}

export interface NetworkSyncRequest extends AgentCommand {
  state: HostNetworkState;
}

export interface NetworkSyncReply {
  /** Link operations run to converge (0 on a converged host). */
  linkOps: number;
  /** Networks the host cannot carry (vlan without 802.1q, no such physical network), with why. */
  refusedNetworks: Array<{ networkId: string; reason: string }>;
  /** Ports whose rules could not be compiled: they drop everything (fail closed), with why. */
  blockedPorts: Array<{ portId: string; reason: string }>;
}

export const AgentNetworkOps = {
  sync: rpc<NetworkSyncRequest, NetworkSyncReply>('network.sync', { timeoutMs: 60_000 }),
};
