/**
 * Compute contracts: server states and the agent's request/reply operations.
 * v1: spawn, destroy, status, list. v1.1 (additive): stop, start, reboot, pause, unpause, suspend, resume.
 * v1.2 (additive): InstanceSpec.accelerator; consoleLog; snapshot (TaskState.ImageSnapshot).
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
  PoweringOff = 'powering-off',
  PoweringOn = 'powering-on',
  Rebooting = 'rebooting',
  RebootingHard = 'rebooting_hard',
  Pausing = 'pausing',
  Unpausing = 'unpausing',
  Suspending = 'suspending',
  Resuming = 'resuming',
  /** Nova's createImage: the disk is being copied into an image. */
  ImageSnapshot = 'image_snapshot',
}

/** What the hypervisor says (Nova's power_state); the agent's word is the truth. */
export enum PowerState {
  NoState = 'nostate',
  Running = 'running',
  Paused = 'paused',
  Shutdown = 'shutdown',
  Crashed = 'crashed',
  /** Guest RAM saved to a file on the host and QEMU gone (virsh managedsave). */
  Suspended = 'suspended',
}

/**
 * A base image for a server's root disk. The agent downloads it once per host from `url` (signed
 * by the control plane, short-lived, served by the image store), checks sha256, and puts a qcow2
 * overlay with an explicit backing format on top of it.
 */
export interface ImageSource {
  id: string;
  sha256: string;
  sizeBytes: number;
  diskFormat: 'raw' | 'qcow2' | 'iso';
  url: string;
}

/** Everything an agent needs to run a server. No user text goes to QEMU's option syntax. */
export interface InstanceSpec {
  serverId: string;
  vcpus: number;
  ramMb: number;
  /** Root disk size; the overlay is grown to it when the image is smaller. */
  diskGb: number;
  /** Absent: a firmware-only guest with no disk (the walking skeleton's servers). */
  image?: ImageSource;
  /**
   * QEMU's accelerator, from the image's `hypervisor_type` (Nova/libvirt virt_type: `qemu` = TCG,
   * `kvm` = KVM). Absent: the agent's configured default. An agent without KVM refuses `kvm`.
   */
  accelerator?: 'kvm' | 'tcg';
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

export interface StopRequest extends ServerRef {
  /** Seconds the guest gets to power off on ACPI before QEMU is stopped by force. 0: force at once. */
  graceSeconds: number;
}

export interface RebootRequest extends ServerRef {
  /** SOFT: ACPI power-off, then start again (HARD if the guest ignores it); HARD: system_reset. */
  type: 'SOFT' | 'HARD';
  graceSeconds: number;
}

/** Start, resume: the spec travels again so a host that lost its files can still start the VM. */
export interface StartRequest extends ServerRef {
  spec: InstanceSpec;
}

export interface ConsoleLogRequest extends ServerRef {
  /** Lines from the end of the log (Nova's `length`); absent: all (up to the agent's byte cap). */
  lines?: number;
}

export interface ConsoleLogReply {
  output: string;
}

/** Where the agent PUTs a snapshot: the image store's upload URL and the signed caller headers. */
export interface SnapshotUpload {
  url: string;
  headers: Record<string, string>;
}

export interface SnapshotRequest extends ServerRef {
  imageId: string;
  upload: SnapshotUpload;
}

export interface SnapshotReply {
  serverId: string;
  imageId: string;
  /** Bytes uploaded (the standalone qcow2 file). */
  sizeBytes: number;
  virtualSize: number;
}

export const AgentOps = {
  spawn: rpc<SpawnRequest, InstanceStatus>('server.spawn', { timeoutMs: 120_000 }),
  destroy: rpc<ServerRef, DestroyReply>('server.destroy', { timeoutMs: 60_000 }),
  status: rpc<ServerRef, InstanceStatus>('server.status', { timeoutMs: 10_000 }),
  list: rpc<AgentCommand, { instances: InstanceStatus[] }>('server.list', { timeoutMs: 10_000 }),
  /** QEMU exits; the instance's files stay; power state `shutdown`. Idempotent. */
  stop: rpc<StopRequest, InstanceStatus>('server.stop', { timeoutMs: 330_000 }),
  /** Starts a stopped instance from its files (or the spec). Idempotent when running. */
  start: rpc<StartRequest, InstanceStatus>('server.start', { timeoutMs: 120_000 }),
  reboot: rpc<RebootRequest, InstanceStatus>('server.reboot', { timeoutMs: 330_000 }),
  /** QMP stop / cont. Idempotent. */
  pause: rpc<ServerRef, InstanceStatus>('server.pause', { timeoutMs: 30_000 }),
  unpause: rpc<ServerRef, InstanceStatus>('server.unpause', { timeoutMs: 30_000 }),
  /** Guest RAM to a file on the host (QMP migrate to a UNIX socket the agent drains), then QEMU exits. */
  suspend: rpc<ServerRef, InstanceStatus>('server.suspend', { timeoutMs: 300_000 }),
  /** QEMU started with -incoming defer, fed the saved RAM; the guest carries on where it was. */
  resume: rpc<StartRequest, InstanceStatus>('server.resume', { timeoutMs: 300_000 }),
  /** The tail of the serial console log (read-only; answers for running and stopped servers). */
  consoleLog: rpc<ConsoleLogRequest, ConsoleLogReply>('server.console-log', { timeoutMs: 10_000 }),
  /**
   * A standalone qcow2 (no backing file) of the server's root disk, point-in-time, streamed to
   * `upload`; the guest keeps running (or stays stopped) as it was.
   */
  snapshot: rpc<SnapshotRequest, SnapshotReply>('server.snapshot', { timeoutMs: 1_800_000 }),
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
