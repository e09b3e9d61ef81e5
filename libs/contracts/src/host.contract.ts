/** Host contracts: the heartbeat every agent publishes once a second. v1. */
import { event } from './rpc';
import { PowerState } from './compute.contract';

export interface HostCapacity {
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

export interface HeartbeatEvent {
  hostId: string;
  /** Changes when the agent process restarts; lets the control plane see restarts. */
  agentStartedAt: string;
  sentAt: string;
  accelerator: 'kvm' | 'tcg';
  underlayIp: string | null;
  capacity: HostCapacity;
  instances: Array<{ serverId: string; powerState: PowerState }>;
}

export const HostHeartbeat = event<HeartbeatEvent>('host.heartbeat');

export enum HostState {
  Up = 'up',
  Down = 'down',
  Fenced = 'fenced',
  Maintenance = 'maintenance',
  Disabled = 'disabled',
}
