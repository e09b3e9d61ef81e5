/** Host contracts: the heartbeat every agent publishes once a second. v1; v1.1 (additive): capacity.ksm; v1.2 (additive): traits. */
import { event } from './rpc';
import { InstanceExit, PowerState } from './compute.contract';

export interface HostCapacity {
  vcpus: number;
  ramMb: number;
  diskGb: number;
  /** Kernel samepage merging, read fresh at each heartbeat (v1.1, additive: absent from older agents). */
  ksm?: KsmStats;
}

/** /sys/kernel/mm/ksm as the agent reads it; a counter it cannot read is null. */
export interface KsmStats {
  /** The agent's setting (NUBO_AGENT_KSM=on): it turns KSM on at boot, never off. */
  enabled: boolean;
  /** false: the kernel has no KSM, or the agent was told to turn it on and could not (read-only sysfs). */
  available: boolean;
  /** The kernel's run mode: 0 stopped, 1 merging, 2 unmerging. */
  run: number | null;
  pagesShared: number | null;
  pagesSharing: number | null;
  pagesUnshared: number | null;
  fullScans: number | null;
}

export interface HeartbeatEvent {
  hostId: string;
  /** Changes when the agent process restarts; lets the control plane see restarts. */
  agentStartedAt: string;
  sentAt: string;
  accelerator: 'kvm' | 'tcg';
  underlayIp: string | null;
  capacity: HostCapacity;
  /**
   * The host's standard traits (os-traits names: COMPUTE_ACCEL_KVM, COMPUTE_ACCEL_TCG, HW_CPU_X86_*),
   * v1.2, additive: absent from older agents, whose traits are then left as they are.
   */
  traits?: string[];
  /** Every instance the agent tracks; `lastExit` (additive) says why a stopped one's QEMU ended. */
  instances: Array<{ serverId: string; powerState: PowerState; lastExit?: InstanceExit }>;
}

export const HostHeartbeat = event<HeartbeatEvent>('host.heartbeat');

export enum HostState {
  Up = 'up',
  Down = 'down',
  Fenced = 'fenced',
  Maintenance = 'maintenance',
  Disabled = 'disabled',
}
