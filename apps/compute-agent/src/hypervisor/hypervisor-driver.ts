/**
 * The hypervisor seam: everything the agent asks of a host's VMs goes through this interface.
 * Implementations: `qemu` (real QEMU over QMP) and `fake` (in memory, for unit and scale tests).
 * Hypervisor internals (QMP sockets, argv, process handling) never leave the driver.
 */
import { EventEmitter } from 'node:events';
import type { LiveMigrationDriver } from './live-migration-driver';
import type { ColdMigrationDriver } from './cold-migration-driver';
import { BalloonInfo, InstanceExit, InstanceSpec, InstanceStatus, InternalError, NicSpec, PowerState, SnapshotUpload } from '@nubo/contracts';

export type Accelerator = 'kvm' | 'tcg';

/** A power state the driver observed, with what caused it. */
export interface PowerStateChange {
  serverId: string;
  powerState: PowerState;
  /** The QMP event or observation: `SHUTDOWN:guest-shutdown`, `STOP`, `process-exited`, `spawned`, ... */
  reason: string;
  /** ISO 8601. */
  at: string;
  /** When the process is gone: why it ended. */
  lastExit?: InstanceExit;
}

export type PowerStateListener = (change: PowerStateChange) => void;

export interface StopOptions {
  /** Seconds the guest gets to power off on ACPI before QEMU is stopped by force; 0: force at once. */
  graceSeconds: number;
}

export interface RebootOptions {
  /** HARD: reset in place. SOFT: ACPI power-off then boot again; HARD when the guest ignores it. */
  type: 'SOFT' | 'HARD';
  graceSeconds: number;
}

export interface ConsoleLogOptions {
  /** Lines from the end (as `tail -n`); absent: everything the driver keeps (capped in bytes). */
  lines?: number;
}

export interface SnapshotTarget {
  imageId: string;
  upload: SnapshotUpload;
}

export interface SnapshotResult {
  /** Bytes of the standalone qcow2 that was uploaded. */
  sizeBytes: number;
  virtualSize: number;
}

export interface RebuildOptions {
  /** Boot the rebuilt instance (false: it stays powered off). */
  powerOn: boolean;
  /** Seconds a running guest gets to power off on ACPI before QEMU is stopped by force. */
  graceSeconds: number;
  /** Nova's preserve_ephemeral: keep the ephemeral disk's contents (else it is made blank again). */
  preserveEphemeral: boolean;
  /** The rebuild's operation id: a replay with the same id does not make the disk anew twice. */
  rebuildId: string;
}

export interface ResizeOptions {
  /** Start the instance after the resize or the revert (false: it stays powered off). */
  powerOn: boolean;
  graceSeconds: number;
}

/** The host's base-image cache, for health and tests. */
export interface ImageCacheStats {
  /** Base images on the host now. */
  images: number;
  /** Downloads started since the agent started. */
  downloads: number;
}

/**
 * Contract of every driver. Calls for one server are serialized by the caller (the agent); calls
 * for different servers may run concurrently.
 */
export interface HypervisorDriver {
  readonly name: 'qemu' | 'fake';
  readonly accelerator: Accelerator;

  /**
   * Starts the instance. Postcondition: either the instance runs (the reply says so) or nothing the
   * call created is left (no process, no new instance directory, no partial image) and it throws.
   * Idempotent: when the instance already runs, answers its status and starts nothing. An instance
   * whose process is gone but whose files remain is started from them, as by `start` (its disk is
   * kept, even when that fails). Throws `ConflictError` when a running instance has a different
   * shape (vcpus, ram), or when the instance is suspended.
   */
  spawn(spec: InstanceSpec): Promise<InstanceStatus>;

  /**
   * Stops the instance (gracefully, then by force) and removes everything it had on the host.
   * Idempotent: resolves false when there was nothing to destroy. Shared base images stay; disks
   * on shared storage go only with `deleteSharedDisks` (the server is deleted, not moved away).
   */
  destroy(serverId: string, options?: { deleteSharedDisks?: boolean }): Promise<boolean>;

  /**
   * Live status, asking the hypervisor. `shutdown` when the instance is known but its process is
   * gone (`suspended` when its RAM is saved); `nostate` when the driver knows nothing of this server.
   */
  status(serverId: string): Promise<InstanceStatus>;

  /*
   * Power operations. The allowed source states are in power-transitions.ts; an operation not
   * allowed from the current state throws `ConflictError`, one already done answers the status
   * (idempotent), and one on a server the driver does not know throws `NotFoundError` (start and
   * resume excepted: they carry the spec and boot it). Each resolves with the status it ended in.
   */

  /**
   * Powers off: ACPI power button, up to `graceSeconds` for the guest to turn itself off, then
   * QEMU is quit (SIGKILL if needed). The instance's files stay; power state `shutdown`. A guest
   * that is not running (paused, crashed) is not asked: it cannot answer.
   */
  stop(serverId: string, options: StopOptions): Promise<InstanceStatus>;

  /**
   * Boots a stopped instance from its files (its disk, its stored spec), or from `spec` when the
   * host has no files for it. A failure kills what it started and keeps the files.
   */
  start(spec: InstanceSpec): Promise<InstanceStatus>;

  /** Ends `running`. HARD keeps the process (system_reset); SOFT may replace it. */
  reboot(serverId: string, options: RebootOptions): Promise<InstanceStatus>;

  /** Freezes the vCPUs (QMP stop); power state `paused`. */
  pause(serverId: string): Promise<InstanceStatus>;

  /** Thaws the vCPUs (QMP cont); power state `running`. */
  unpause(serverId: string): Promise<InstanceStatus>;

  /**
   * Saves guest RAM to a file in the instance directory and ends the process (virsh managedsave);
   * power state `suspended`, also for a new driver adopting the directory. A failure leaves the
   * guest as it was.
   */
  suspend(serverId: string): Promise<InstanceStatus>;

  /**
   * Starts the instance from its saved RAM: the guest carries on where it was; the saved file is
   * deleted once the guest runs. A failure keeps the saved file (and the `suspended` state).
   */
  resume(spec: InstanceSpec): Promise<InstanceStatus>;

  /**
   * The tail of the instance's serial console log, as text without control characters (Nova's
   * os-getConsoleOutput). Works while running and after the process ended (the log stays with the
   * instance's files); `NotFoundError` when the driver has no instance of this server.
   */
  consoleLog(serverId: string, options: ConsoleLogOptions): Promise<string>;

  /**
   * Copies the instance's root disk, as the guest sees it at one point in time, into a standalone
   * qcow2 (no backing file) and PUTs it to `target.upload`. A running guest keeps running; a
   * stopped one stays stopped. Postcondition: no copy is left on the host, success or not.
   * `ConflictError` when the instance has no disk of its own (firmware-only, ISO).
   */
  snapshot(serverId: string, target: SnapshotTarget): Promise<SnapshotResult>;

  /**
   * The memory balloon (virtio-balloon): the guest's RAM now and the most it can have (its spec's
   * RAM), and the last target set on its current process. `ConflictError` unless the process runs
   * (running or paused) and has a balloon device; `NotFoundError` for a server the driver does not know.
   */
  balloonInfo(serverId: string): Promise<BalloonInfo>;

  /**
   * Asks the guest's balloon driver to bring its RAM to `targetBytes` (within
   * balloonTargetRangeMb of its RAM, else `ValidationError`) and answers at once: the guest moves
   * toward it over the following seconds (a guest without the driver never does). `ConflictError`
   * unless running: a paused guest cannot give RAM back. Lost when the process ends.
   */
  balloonSet(serverId: string, options: { targetBytes: number }): Promise<BalloonInfo>;

  /*
   * Rebuild and cold resize (Nova's rebuild, resize, confirmResize, revertResize). Each one is
   * idempotent and crash-safe: called again after a timeout, or after the agent died half-way, it
   * converges to the state the first call was to reach, never repeats a change (a disk made twice,
   * a disk grown twice) and never loses what a revert needs. Each throws `NotFoundError` for a
   * server the driver does not know; resize and revertResize throw `ConflictError` for a
   * suspended one (its saved RAM belongs to the disk and shape it has).
   */

  /**
   * Stops the instance (ACPI with `graceSeconds`, then forced; a suspended one loses its saved
   * RAM), replaces its root disk with a new one made from `spec.image` (a fresh overlay: nothing
   * the guest wrote survives), wipes its ephemeral disk unless `preserveEphemeral`, makes `spec`
   * its spec, and boots it when `options.powerOn`. A replay with the same `rebuildId` after the
   * disk was replaced does not replace it again; it only ensures the power state. A failure before
   * the swap keeps the old disk; one after it leaves the new disk, powered off.
   */
  rebuild(spec: InstanceSpec, options: RebuildOptions): Promise<InstanceStatus>;

  /**
   * Cold resize to `spec`'s vcpus, ramMb, diskGb and ephemeralGb: stops the instance (as `stop`),
   * keeps its disks (`disk.qcow2.resize-orig` for QEMU) and its spec aside until `confirmResize` or
   * `revertResize`, grows the disks to the new sizes (never shrinks one), stores the new spec and
   * starts it again when `options.powerOn`. What was kept aside is written once: a second call (a
   * replay, or after a crash) finds it and carries on from there, so the disk is never grown from
   * an already grown one's backup nor the backup overwritten. A failure before anything changed
   * leaves the instance as it was; after, `revertResize` puts it back.
   */
  resize(spec: InstanceSpec, options: ResizeOptions): Promise<InstanceStatus>;

  /** Deletes what `resize` kept aside; the instance and its power state are untouched. Idempotent. */
  confirmResize(serverId: string): Promise<InstanceStatus>;

  /**
   * Stops the instance, puts the disk and spec kept by `resize` back (the old shape, the old
   * disk's contents) and starts it when `options.powerOn`. With nothing kept aside (never resized,
   * or already reverted) it only ensures the power state.
   */
  revertResize(serverId: string, options: ResizeOptions): Promise<InstanceStatus>;

  /**
   * Interface hot-plug (optional: a driver without it answers "unsupported"). attachInterface
   * plugs `nic` (its tap exists on the host) into the running instance and adds it to the stored
   * spec; a stopped instance gets the spec change only (`live` false). detachInterface unplugs it
   * and waits up to `timeoutMs` for the guest to release it (else it throws and the NIC stays),
   * then drops it from the spec. Both are idempotent (the NIC is known by its MAC); `ConflictError`
   * for a suspended instance or when no slot is free.
   */
  attachInterface?(serverId: string, nic: NicSpec): Promise<{ live: boolean }>;
  detachInterface?(serverId: string, nic: NicSpec, options: { timeoutMs: number }): Promise<{ live: boolean }>;

  /** Live migration over the underlay (optional: a driver without it answers "unsupported"). */
  readonly liveMigration?: LiveMigrationDriver;
  /** Cold migration: disks copied to another host (optional: a driver without it answers "unsupported"). */
  readonly coldMigration?: ColdMigrationDriver;

  /** What the base-image cache holds and has downloaded. */
  imageCacheStats(): Promise<ImageCacheStats>;

  /**
   * Deletes cached base images that no instance on the host (running or not) has used for
   * `ttlMs`. Returns the sha256 of each image removed.
   */
  evictUnusedImages(options: { ttlMs: number }): Promise<string[]>;

  /** Every instance the driver tracks, from its cached state (cheap: used by each heartbeat). */
  list(): Promise<InstanceStatus[]>;

  /**
   * Re-discovers the instances left on the host by a previous agent process: live ones are
   * tracked again (their VMs never stopped), dead ones are reported `shutdown` (`suspended` when
   * their RAM is saved) and left in place for the control plane to decide. Call once at boot, before serving.
   */
  adopt(): Promise<InstanceStatus[]>;

  /** Subscribes to power-state changes; returns the unsubscribe function. */
  onPowerStateChange(listener: PowerStateListener): () => void;

  /** Lets go of monitors and timers. Never stops an instance: VMs outlive the agent. */
  close(): Promise<void>;
}

/** A hypervisor operation failed; `details.operation` names it. */
export class HypervisorError extends InternalError {
  constructor(operation: string, serverId: string, message: string) {
    super(`${operation} of ${serverId} failed: ${message}`, { operation, serverId });
  }
}

/** Shared listener plumbing for drivers. */
export class PowerStateEmitter {
  private readonly emitter = new EventEmitter<{ change: [PowerStateChange] }>();

  on(listener: PowerStateListener): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }

  emit(serverId: string, powerState: PowerState, reason: string, lastExit?: InstanceExit): void {
    this.emitter.emit('change', { serverId, powerState, reason, at: new Date().toISOString(), ...(lastExit ? { lastExit } : {}) });
  }
}
