/**
 * Compute contracts: server states and the agent's request/reply operations.
 * v1: spawn, destroy, status, list. v1.1 (additive): stop, start, reboot, pause, unpause, suspend, resume.
 * v1.2 (additive): InstanceSpec.accelerator; consoleLog; snapshot (TaskState.ImageSnapshot).
 * (additive): InstanceSpec.name, metadata, ephemeralGb, topology, diskBus, nics.
 * v1.3 (additive): balloonInfo, balloonSet (the virtio-balloon of a running server).
 * (additive): InstanceStatus.lastExit and ServerStateEvent.lastExit (why QEMU last ended).
 * (additive): rebuild, resize, confirmResize, revertResize (VmState.Resized and their task states).
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
  /** Nova's `resized`: a resize waits for confirmResize or revertResize (VERIFY_RESIZE). */
  Resized = 'resized',
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
  /** Nova's rebuild: accepted, then the root disk is recreated and the server booted. */
  Rebuilding = 'rebuilding',
  RebuildSpawning = 'rebuild_spawning',
  /** Nova's resize: accepted, claimed on the host, disk copied and grown, started with the new flavor. */
  ResizePrep = 'resize_prep',
  ResizeMigrating = 'resize_migrating',
  ResizeMigrated = 'resize_migrated',
  ResizeFinish = 'resize_finish',
  /** confirmResize (Nova keeps task_state null while confirming; Nubo serializes with this one). */
  ResizeConfirming = 'resize_confirming',
  ResizeReverting = 'resize_reverting',
  /** Nova's os-migrateLive: the server is being moved to another host while it runs (MIGRATING). */
  Migrating = 'migrating',
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

/** Everything an agent needs to run a server. User text (name, metadata) reaches QEMU only escaped, as SMBIOS strings. */
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
  /** The server's display name (any text up to 255 characters): SMBIOS only, never option syntax. */
  name?: string;
  /** The server's metadata: SMBIOS type 11 strings for the guest to read. */
  metadata?: Record<string, string>;
  /** The flavor's ephemeral disk (OS-FLV-EXT-DATA:ephemeral); absent or 0: none. */
  ephemeralGb?: number;
  /** vCPU topology from the flavor's hw:cpu_sockets/cores/threads; its product is `vcpus`. */
  topology?: CpuTopology;
  /** The disks' bus, from the image's hw_disk_bus; absent: virtio. */
  diskBus?: 'virtio' | 'scsi';
  /** Network interfaces, in guest order: virtio-net on a tap the agent's host already has. */
  nics?: NicSpec[];
  /**
   * Where the disks live (flavor extra spec `nubo:storage`): absent or `local`, the host's own
   * state dir; `shared`, the cloud's shared storage (NUBO_AGENT_SHARED_STORAGE_DIR on every host),
   * so another host opens the same disk (live migration without copying, evacuation).
   */
  storage?: 'local' | 'shared';
}

/** The trait of a host that mounts the cloud's shared storage (servers with `nubo:storage=shared` need it). */
export const SHARED_STORAGE_TRAIT = 'CUSTOM_NUBO_SHARED_STORAGE';

/** The flavor extra spec that puts a server's disks on shared storage (`shared`) or the host's own (`local`, default). */
export const STORAGE_EXTRA_SPEC = 'nubo:storage';

/** Nova's guest CPU topology: sockets x cores x threads = vcpus. */
export interface CpuTopology {
  sockets: number;
  cores: number;
  threads: number;
}

export interface NicSpec {
  /** Unicast, lower-case `xx:xx:xx:xx:xx:xx`. */
  mac: string;
  /** The host's tap device ([a-z0-9-], at most 15 characters). */
  tap: string;
  /** The network's MTU, told to the guest (virtio-net host_mtu). */
  mtu?: number;
}

export interface SpawnRequest extends AgentCommand {
  spec: InstanceSpec;
}

export interface ServerRef extends AgentCommand {
  serverId: string;
}

/** destroy: the server's disks on shared storage go too only when the server itself is deleted. */
export interface DestroyRequest extends ServerRef {
  deleteSharedDisks?: boolean;
}

/**
 * Why a server's QEMU last ended. `guest-shutdown`: the guest powered off (QMP SHUTDOWN
 * guest-shutdown); `guest-panic`: the guest kernel panicked (GUEST_PANICKED, SHUTDOWN guest-panic);
 * `host-stop`: the agent stopped it (stop, suspend); `unexpected`: it died on its own (a signal, a
 * non-zero exit, no SHUTDOWN event); `found-dead`: a starting agent found it gone (agent or host
 * restart: nobody watched it end).
 */
export type InstanceExitCause = 'guest-shutdown' | 'guest-panic' | 'host-stop' | 'unexpected' | 'found-dead';

export interface InstanceExit {
  cause: InstanceExitCause;
  /** One phrase: `killed by SIGKILL`, `exit code 1`, `SHUTDOWN guest-shutdown`, ... */
  detail: string;
  /** ISO 8601, when the agent saw it. */
  at: string;
}

export interface InstanceStatus {
  serverId: string;
  powerState: PowerState;
  /** QMP `query-status` status (running, paused, ...), when QEMU answered. */
  qmpStatus?: string;
  pid?: number;
  /** Why QEMU last ended; kept on the host until the next start, stop or destroy (additive). */
  lastExit?: InstanceExit;
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

/** The memory balloon (virtio-balloon) of a server's QEMU, in bytes as QMP counts them. */
export interface BalloonInfo {
  /** RAM the guest has now: the flavor's RAM minus what its balloon holds (QMP query-balloon). */
  actualBytes: number;
  /** The flavor's RAM: the balloon never gives the guest more. */
  maxBytes: number;
  /** The last target set on the current QEMU process; absent when none was (or the agent restarted). */
  targetBytes?: number;
}

export interface BalloonReply extends BalloonInfo {
  serverId: string;
}

export interface BalloonSetRequest extends ServerRef {
  /** Within balloonTargetRangeMb(flavor RAM), in bytes. */
  targetBytes: number;
}

/** The smallest balloon target is a quarter of the flavor's RAM, and never below this. */
export const BALLOON_FLOOR_MB = 64;

/**
 * The targets a server's balloon may be set to, in MiB: from a quarter of its RAM (at least
 * 64 MiB, at most the RAM itself) up to its RAM. A guest squeezed below that stalls or OOMs.
 */
export function balloonTargetRangeMb(ramMb: number): { minMb: number; maxMb: number } {
  return { minMb: Math.min(ramMb, Math.max(BALLOON_FLOOR_MB, Math.ceil(ramMb / 4))), maxMb: ramMb };
}

/** Rebuild: the server's spec with the image it is rebuilt from; the root disk is made anew. */
export interface RebuildRequest extends ServerRef {
  spec: InstanceSpec;
  /** Boot it afterwards (false: the server was stopped and stays stopped). */
  powerOn: boolean;
  /** Seconds a running guest gets to power off on ACPI before QEMU is stopped by force. */
  graceSeconds: number;
  /** Nova's preserve_ephemeral: the ephemeral disk keeps its contents (else it is made blank again). */
  preserveEphemeral?: boolean;
}

/** Resize: the server's spec with the new flavor's vcpus, ramMb and diskGb. */
export interface ResizeRequest extends ServerRef {
  spec: InstanceSpec;
  /** Start it again afterwards (false: it was stopped and stays stopped). */
  powerOn: boolean;
  graceSeconds: number;
}

/** Revert of a resize: the disk and spec kept by the resize come back. */
export interface RevertResizeRequest extends ServerRef {
  powerOn: boolean;
  graceSeconds: number;
}

export const AgentOps = {
  spawn: rpc<SpawnRequest, InstanceStatus>('server.spawn', { timeoutMs: 120_000 }),
  destroy: rpc<DestroyRequest, DestroyReply>('server.destroy', { timeoutMs: 60_000 }),
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
  /** QMP query-balloon: the guest's RAM now, and the flavor's RAM as the most it can have. */
  balloonInfo: rpc<ServerRef, BalloonReply>('server.balloon-info', { timeoutMs: 10_000 }),
  /** QMP balloon: the guest's balloon driver gives RAM back (or takes it again) toward the target. */
  balloonSet: rpc<BalloonSetRequest, BalloonReply>('server.balloon-set', { timeoutMs: 10_000 }),
  /** Stops the guest, recreates its root disk from `spec.image` (a new overlay), boots it unless stopped. */
  rebuild: rpc<RebuildRequest, InstanceStatus>('server.rebuild', { timeoutMs: 900_000 }),
  /** Stops the guest, keeps disk and spec aside (for revert), grows the disk, new shape, starts it again. */
  resize: rpc<ResizeRequest, InstanceStatus>('server.resize', { timeoutMs: 1_200_000 }),
  /** Drops what the resize kept aside. Never touches the running guest. Idempotent. */
  confirmResize: rpc<ServerRef, InstanceStatus>('server.confirm-resize', { timeoutMs: 60_000 }),
  /** Stops the guest, puts the kept disk and spec back, starts it again if `powerOn`. Idempotent. */
  revertResize: rpc<RevertResizeRequest, InstanceStatus>('server.revert-resize', { timeoutMs: 900_000 }),
} as const;

export interface ServerStateEvent {
  serverId: string;
  hostId: string;
  powerState: PowerState;
  /** The QMP event or observation that caused it (SHUTDOWN, process exit, ...). */
  reason: string;
  at: string;
  /** When the process is gone: why it ended (additive). */
  lastExit?: InstanceExit;
}

export const ServerStateChanged = event<ServerStateEvent>('server.state');
