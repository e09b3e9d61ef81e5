/**
 * The hypervisor seam: everything the agent asks of a host's VMs goes through this interface.
 * Implementations: `qemu` (real QEMU over QMP) and `fake` (in memory, for unit and scale tests).
 * Hypervisor internals (QMP sockets, argv, process handling) never leave the driver.
 */
import { EventEmitter } from 'node:events';
import { InstanceSpec, InstanceStatus, InternalError, PowerState } from '@nubo/contracts';

export type Accelerator = 'kvm' | 'tcg';

/** A power state the driver observed, with what caused it. */
export interface PowerStateChange {
  serverId: string;
  powerState: PowerState;
  /** The QMP event or observation: `SHUTDOWN:guest-shutdown`, `STOP`, `process-exited`, `spawned`, ... */
  reason: string;
  /** ISO 8601. */
  at: string;
}

export type PowerStateListener = (change: PowerStateChange) => void;

/**
 * Contract of every driver. Calls for one server are serialized by the caller (the agent); calls
 * for different servers may run concurrently.
 */
export interface HypervisorDriver {
  readonly name: 'qemu' | 'fake';
  readonly accelerator: Accelerator;

  /**
   * Starts the instance. Postcondition: either the instance runs (the reply says so) or nothing of
   * it is left (no process, no instance directory) and the call throws. Idempotent: when the
   * instance already runs, answers its status and starts nothing. Throws `ConflictError` when a
   * running instance has a different shape (vcpus, ram).
   */
  spawn(spec: InstanceSpec): Promise<InstanceStatus>;

  /**
   * Stops the instance (gracefully, then by force) and removes everything it had on the host.
   * Idempotent: resolves false when there was nothing to destroy.
   */
  destroy(serverId: string): Promise<boolean>;

  /**
   * Live status, asking the hypervisor. `shutdown` when the instance is known but its process is
   * gone; `nostate` when the driver knows nothing of this server.
   */
  status(serverId: string): Promise<InstanceStatus>;

  /** Every instance the driver tracks, from its cached state (cheap: used by each heartbeat). */
  list(): Promise<InstanceStatus[]>;

  /**
   * Re-discovers the instances left on the host by a previous agent process: live ones are
   * tracked again (their VMs never stopped), dead ones are reported `shutdown` and left in place
   * for the control plane to decide. Call once at boot, before serving.
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

  emit(serverId: string, powerState: PowerState, reason: string): void {
    this.emitter.emit('change', { serverId, powerState, reason, at: new Date().toISOString() });
  }
}
