/**
 * The fake driver's rebuild and cold resize, with the QEMU driver's contract: a disk is a
 * generation number (a rebuild makes a new one; a resize keeps the old one and the old spec aside
 * until confirm or revert), and every operation converges when called again.
 */
import { ConflictError, InstanceSpec, InstanceStatus, NotFoundError, PowerState } from '@nubo/contracts';
import { HypervisorError, PowerStateEmitter, RebuildOptions, ResizeOptions } from '../hypervisor-driver';

export type RebuildResizeOp = 'rebuild' | 'resize' | 'confirmResize' | 'revertResize';

/** What the fake keeps of an instance; rebuild and resize add their fields to the host's objects. */
export interface FakeGuest {
  spec: InstanceSpec;
  pid: number;
  powerState: PowerState;
  /** Which disk the instance has: 0 from its spawn, one more for each rebuild. */
  diskGeneration?: number;
  /** The disk's size; it only grows. */
  diskGb?: number;
  /** The last rebuild whose disk swap is done. */
  rebuildId?: string;
  /** What a pending resize kept aside. */
  kept?: { spec: InstanceSpec; diskGeneration: number; diskGb: number };
}

export interface FakeRebuildResizeHooks {
  /** The tracked instance, or undefined. */
  find(serverId: string): FakeGuest | undefined;
  allocatePid(): number;
  events: PowerStateEmitter;
  record(entry: string): void;
}

const alive = (g: FakeGuest) => g.powerState !== PowerState.Shutdown && g.powerState !== PowerState.Suspended;

export class FakeRebuildResize {
  private readonly failures = new Map<RebuildResizeOp, Error[]>();

  constructor(private readonly hooks: FakeRebuildResizeHooks) {}

  /** The next `op` fails before it changes anything. */
  failNext(op: RebuildResizeOp, error: Error = new Error('injected failure')): void {
    this.failures.set(op, [...(this.failures.get(op) ?? []), error]);
  }

  /** The instance as the fake keeps it (disk generation, kept spec), for assertions. */
  guest(serverId: string): FakeGuest | undefined {
    return this.hooks.find(serverId);
  }

  rebuild(spec: InstanceSpec, options: RebuildOptions): Promise<InstanceStatus> {
    return this.run('rebuild', spec.serverId, (g) => {
      if (g.rebuildId !== options.rebuildId) {
        this.power(g, false, 'rebuild');
        g.spec = spec;
        g.diskGeneration = (g.diskGeneration ?? 0) + 1;
        g.diskGb = spec.diskGb;
        g.rebuildId = options.rebuildId;
      }
      this.power(g, options.powerOn, 'rebuild');
    });
  }

  resize(spec: InstanceSpec, options: ResizeOptions): Promise<InstanceStatus> {
    return this.run('resize', spec.serverId, (g) => {
      const shaped = { ...g.spec, vcpus: spec.vcpus, ramMb: spec.ramMb, diskGb: spec.diskGb };
      if (!g.kept) {
        this.power(g, false, 'resize');
        g.kept = { spec: g.spec, diskGeneration: g.diskGeneration ?? 0, diskGb: g.diskGb ?? g.spec.diskGb };
      } else if (alive(g) && g.spec.vcpus === spec.vcpus && g.spec.ramMb === spec.ramMb && g.spec.diskGb === spec.diskGb) {
        return;
      } else {
        this.power(g, false, 'resize');
      }
      g.diskGb = Math.max(g.diskGb ?? g.spec.diskGb, spec.diskGb);
      g.spec = shaped;
      this.power(g, options.powerOn, 'resize');
    });
  }

  confirmResize(serverId: string): Promise<InstanceStatus> {
    return this.run('confirmResize', serverId, (g) => {
      g.kept = undefined;
    });
  }

  revertResize(serverId: string, options: ResizeOptions): Promise<InstanceStatus> {
    return this.run('revertResize', serverId, (g) => {
      if (g.kept) {
        this.power(g, false, 'revertResize');
        g.spec = g.kept.spec;
        g.diskGeneration = g.kept.diskGeneration;
        g.diskGb = g.kept.diskGb;
        g.kept = undefined;
      }
      this.power(g, options.powerOn, 'revertResize');
    });
  }

  private async run(op: RebuildResizeOp, id: string, apply: (g: FakeGuest) => void): Promise<InstanceStatus> {
    this.hooks.record(`${op}:${id}:start`);
    try {
      const g = this.hooks.find(id);
      if (!g) throw new NotFoundError(`server ${id} is not on this host`, { serverId: id });
      // A rebuild drops saved RAM (its disk goes); resize and revert refuse it.
      if (g.powerState === PowerState.Suspended && (op === 'resize' || op === 'revertResize')) {
        throw new ConflictError(`cannot ${op} server ${id} while it is suspended`, { serverId: id });
      }
      const failure = this.failures.get(op)?.shift();
      if (failure) throw new HypervisorError(op, id, failure.message);
      apply(g);
      return { serverId: id, powerState: g.powerState, ...(alive(g) ? { qmpStatus: 'running', pid: g.pid } : {}) };
    } finally {
      this.hooks.record(`${op}:${id}:end`);
    }
  }

  /** Powers the guest on (a new process) or off, announcing the change. */
  private power(g: FakeGuest, on: boolean, reason: string): void {
    if (on === alive(g) && g.powerState !== PowerState.Suspended) return;
    if (on) g.pid = this.hooks.allocatePid();
    g.powerState = on ? PowerState.Running : PowerState.Shutdown;
    this.hooks.events.emit(g.spec.serverId, g.powerState, reason);
  }
}
