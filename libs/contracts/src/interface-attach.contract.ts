/**
 * Nova's os-interface (attach and detach a port on a server that exists), end to end:
 *   api -> job `server.interface` -> scheduler -> network.binding.attach-port / detach-port
 *                                             -> agent.<host>.server.interface-attach / -detach
 * v1 (additive to the network binding and agent contracts).
 */
import { NicSpec } from './compute.contract';
import { BoundPort } from './network-binding.contract';
import { AgentCommand, rpc } from './rpc';

/**
 * Task states an interface operation holds while it runs (Nova serializes them with a lock on the
 * compute host and leaves task_state null; Nubo serializes every operation on a server with its
 * task state, so a stop cannot race a hot-plug). The server's status stays what its vm_state says.
 */
export const InterfaceTaskState = { Attaching: 'interface_attaching', Detaching: 'interface_detaching' } as const;

/** vm_states Nova's attach_interface / detach_interface accept (ACTIVE, PAUSED, SHUTOFF). */
export const INTERFACE_VM_STATES = ['active', 'paused', 'stopped'];

/** The job: attach or detach one port of one server. `created`: the api made the port for a net_id attach (it goes on failure and on detach). */
export interface ServerInterfaceJob {
  serverId: string;
  requestId: string;
  op: 'attach' | 'detach';
  portId: string;
  created?: boolean;
}

export interface AttachPortRequest {
  serverId: string;
  projectId: string;
  hostId: string;
  portId: string;
  /** Made for this attach: deleted when detached (Nova deletes the ports it created). */
  autoCreated: boolean;
}

export interface DetachPortRequest {
  serverId: string;
  portId: string;
  /** Delete the port even if the binding did not create it (an attach that failed after the api made it). */
  deletePort?: boolean;
}

export const InterfaceBindingOps = {
  /**
   * Binds one port (the project's, free or already this server's: else 409 PortInUse) to the
   * server on `hostId`, after the server's other ports, and answers once the host's taps and rules
   * include it. Idempotent: a retry finds the port bound already.
   */
  attachPort: rpc<AttachPortRequest, { port: BoundPort }>('binding.attach-port', { timeoutMs: 90_000 }),
  /** Unbinds one port of the server (deleted if the binding created it) and syncs the hosts. Idempotent. */
  detachPort: rpc<DetachPortRequest, { detached: boolean; deleted: boolean }>('binding.detach-port', { timeoutMs: 90_000 }),
};

export interface InterfaceAttachRequest extends AgentCommand {
  serverId: string;
  nic: NicSpec;
}

export interface InterfaceDetachRequest extends AgentCommand {
  serverId: string;
  nic: NicSpec;
  /** How long the guest gets to release the device (DEVICE_DELETED) before the detach fails. */
  timeoutSeconds?: number;
}

export interface InterfaceReply {
  serverId: string;
  /** True when a running QEMU was changed; false when only the stored spec was (a stopped server). */
  live: boolean;
}

export const AgentInterfaceOps = {
  /** Hot-plugs the NIC into a running QEMU (its tap must exist) and adds it to the stored spec; a stopped instance gets the spec only. Idempotent by MAC. */
  attach: rpc<InterfaceAttachRequest, InterfaceReply>('server.interface-attach', { timeoutMs: 60_000 }),
  /** Unplugs the NIC (device_del, waits for DEVICE_DELETED, netdev_del) and drops it from the stored spec. Idempotent. */
  detach: rpc<InterfaceDetachRequest, InterfaceReply>('server.interface-detach', { timeoutMs: 120_000 }),
};
