/**
 * Compute <-> network service: a server's ports (Nova's network allocation, done by the scheduler's
 * create workflow once the host is chosen, and undone when the server goes). Queue group of the
 * network service, subjects `network.binding.*`.
 */
import { ValidationError } from './errors';
import { rpc } from './rpc';

/** One entry of Nova's `networks` in a server create: a network (with an optional fixed IP) or an existing port. */
export interface RequestedNetwork {
  networkId?: string;
  portId?: string;
  fixedIp?: string;
  /** Nova's `security_groups`, resolved to ids in the server's project: the groups of the port made for this network (absent: the project's default). A given port keeps its own. */
  securityGroups?: string[];
}

export interface BoundPort {
  portId: string;
  networkId: string;
  mac: string;
  /** The network's MTU (the guest is told it: virtio-net host_mtu, DHCP option 26). */
  mtu: number;
  fixedIps: string[];
  /** Created by the binding (deleted with the server), as opposed to a port the user passed. */
  autoCreated: boolean;
}

export interface BindRequest {
  serverId: string;
  projectId: string;
  hostId: string;
  requested: RequestedNetwork[];
}

export interface ServerAddress {
  /** The network's name (Nova's `addresses` key). */
  network: string;
  addr: string;
  version: 4 | 6;
  mac: string;
}

export const NetworkBindingOps = {
  /**
   * Creates the ports asked for by network, takes the ones asked for by id, binds them all to the
   * host (device_id = the server, binding:host_id = the host) and syncs that host's data plane:
   * answers once the taps and their rules are in place there. Idempotent for one server and host
   * (a retry finds its ports); a bind to another host moves them.
   */
  bind: rpc<BindRequest, { ports: BoundPort[] }>('binding.bind', { timeoutMs: 90_000 }),
  /** Deletes the ports the binding created, unbinds the others, syncs the host. Idempotent. */
  unbind: rpc<{ serverId: string }, { ports: number }>('binding.unbind', { timeoutMs: 90_000 }),
  /** The servers' addresses, for Nova's server views. */
  addresses: rpc<{ serverIds: string[] }, { servers: Record<string, ServerAddress[]> }>('binding.addresses', { timeoutMs: 5_000 }),
};

/**
 * The host's tap device of a port: `nt-` and the first 12 hex digits of its id (IFNAMSIZ 15). The
 * agent's data plane creates it under this name and QEMU opens it by it.
 */
export function portTapName(portId: string): string {
  const hex = typeof portId === 'string' ? portId.toLowerCase().replace(/-/g, '') : '';
  if (!/^[0-9a-f]{12,}$/.test(hex)) throw new ValidationError('portId must be a UUID (hex digits and dashes)', 'portId');
  return `nt-${hex.slice(0, 12)}`;
}
