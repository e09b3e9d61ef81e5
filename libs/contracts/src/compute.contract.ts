/**
 * Compute contracts: server states and the agent's request/reply operations.
 * v1: spawn, destroy, status, list.
 */
import { AgentCommand, event, rpc } from './rpc';

/** Stable state of a server (Nova's vm_state). */
export enum VmState {
  Building = 'building',
  Active = 'active',
  Paused = 'paused',
  Suspended = 'suspended',
  Stopped = 'stopped',
  Error = 'error',
  Deleted = 'deleted',
}

/** Operation in flight (Nova's task_state); null when idle. */
export enum TaskState {
  Scheduling = 'scheduling',
  Spawning = 'spawning',
  Deleting = 'deleting',
}

/** What the hypervisor says (Nova's power_state); the agent's word is the truth. */
export enum PowerState {
  NoState = 'nostate',
  Running = 'running',
  Paused = 'paused',
  Shutdown = 'shutdown',
  Crashed = 'crashed',
}

/** Everything an agent needs to run a server. No user text goes to QEMU's option syntax. */
export interface InstanceSpec {
  serverId: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

export interface SpawnRequest extends AgentCommand {
  spec: InstanceSpec;
}

export interface ServerRef extends AgentCommand {
  serverId: string;
}

export interface InstanceStatus {
  serverId: string;
  powerState: PowerState;
  /** QMP `query-status` status (running, paused, ...), when QEMU answered. */
  qmpStatus?: string;
  pid?: number;
}

export interface DestroyReply {
  serverId: string;
  /** false when there was nothing to destroy (destroy is idempotent). */
  destroyed: boolean;
}

export const AgentOps = {
  spawn: rpc<SpawnRequest, InstanceStatus>('server.spawn', { timeoutMs: 120_000 }),
  destroy: rpc<ServerRef, DestroyReply>('server.destroy', { timeoutMs: 60_000 }),
  status: rpc<ServerRef, InstanceStatus>('server.status', { timeoutMs: 10_000 }),
  list: rpc<AgentCommand, { instances: InstanceStatus[] }>('server.list', { timeoutMs: 10_000 }),
} as const;

export interface ServerStateEvent {
  serverId: string;
  hostId: string;
  powerState: PowerState;
  /** The QMP event or observation that caused it (SHUTDOWN, process exit, ...). */
  reason: string;
  at: string;
}

export const ServerStateChanged = event<ServerStateEvent>('server.state');
