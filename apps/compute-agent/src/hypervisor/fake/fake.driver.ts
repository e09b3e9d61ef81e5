/**
 * An in-memory driver with the same contract as the QEMU one, for unit tests and scale tests
 * (many agents, no QEMU). Instances live in a `FakeHost` that outlives driver objects, so a
 * "restarted agent" (a new driver on the same host) can adopt them.
 */
import { BalloonInfo, ConflictError, InstanceSpec, InstanceStatus, NotFoundError, PowerState } from '@nubo/contracts';
import {
  Accelerator,
  ConsoleLogOptions,
  HypervisorDriver,
  HypervisorError,
  ImageCacheStats,
  PowerStateEmitter,
  PowerStateListener,
  RebootOptions,
  SnapshotResult,
  SnapshotTarget,
  StopOptions,
} from '../hypervisor-driver';
import {
  assertImageId,
  assertServerId,
  validateConsoleLogOptions,
  validateInstanceSpec,
  validateRebootOptions,
  validateSnapshotUpload,
  validateStopOptions,
} from '../instance-spec';
import { PowerOp, planPowerOp } from '../power-transitions';
import { FakeBalloons } from './fake-balloon';
import { RebuildOptions, ResizeOptions } from '../hypervisor-driver';
import { validateRebuildOptions, validateResizeOptions } from '../rebuild-resize-options';
import { FakeRebuildResize } from './fake-rebuild-resize';

interface FakeInstance {
  spec: InstanceSpec;
  pid: number;
  powerState: PowerState;
  /** What the guest "printed" on its serial console (see `print`). */
  console?: string;
}

/** What survives an agent restart: the "processes" of the host. */
export class FakeHost {
  readonly instances = new Map<string, FakeInstance>();
  private nextPid = 1000;

  allocatePid(): number {
    return this.nextPid++;
  }
}

export interface FakeDriverOptions {
  host?: FakeHost;
  accelerator?: Accelerator;
  /** Simulated duration of spawn and destroy, to exercise concurrency. */
  delayMs?: number;
}

export class FakeDriver implements HypervisorDriver {
  readonly name = 'fake' as const;
  readonly accelerator: Accelerator;
  readonly host: FakeHost;
  /** Every call, in order, for assertions: `spawn:<id>:start`, `spawn:<id>:end`, ... */
  readonly calls: string[] = [];
  /** Snapshots asked for, in order. The fake uploads nothing. */
  readonly snapshots: Array<{ serverId: string } & SnapshotTarget> = [];
  private readonly tracked = new Set<string>();
  private readonly events = new PowerStateEmitter();
  private readonly delayMs: number;
  private failures: Error[] = [];
  private readonly opFailures = new Map<PowerOp, Error[]>();
  private readonly snapshotFailures: Error[] = [];
  private readonly balloons = new FakeBalloons((id) => (this.tracked.has(id) ? this.host.instances.get(id) : undefined));
  /** Rebuild and resize; tests inject failures and read disk generations through it. */
  readonly rebuildResize = new FakeRebuildResize({
    find: (id) => (this.tracked.has(id) ? this.host.instances.get(id) : undefined),
    allocatePid: () => this.host.allocatePid(),
    events: this.events,
    record: (entry) => this.calls.push(entry),
  });

  constructor(options: FakeDriverOptions = {}) {
    this.host = options.host ?? new FakeHost();
    this.accelerator = options.accelerator ?? 'kvm';
    this.delayMs = options.delayMs ?? 0;
  }

  /** The next spawn fails (after its delay) and leaves nothing behind, as the contract demands. */
  failNextSpawn(error: Error = new Error('injected failure')): void {
    this.failures.push(error);
  }

  /** The next `op` fails (after its delay) and leaves the instance as it was. */
  failNext(op: PowerOp, error: Error = new Error('injected failure')): void {
    this.opFailures.set(op, [...(this.opFailures.get(op) ?? []), error]);
  }

  /** Simulates something happening to the guest (shutdown from inside, a panic, ...). */
  simulate(serverId: string, powerState: PowerState, reason = 'simulated'): void {
    const instance = this.host.instances.get(serverId);
    if (!instance) throw new Error(`no fake instance ${serverId}`);
    instance.powerState = powerState;
    this.events.emit(serverId, powerState, reason);
  }

  /** Appends to the fake guest's console log. */
  print(serverId: string, text: string): void {
    const instance = this.host.instances.get(serverId);
    if (!instance) throw new Error(`no fake instance ${serverId}`);
    instance.console = (instance.console ?? '') + text;
  }

  onPowerStateChange(listener: PowerStateListener): () => void {
    return this.events.on(listener);
  }

  async spawn(input: InstanceSpec): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    const id = spec.serverId;
    this.calls.push(`spawn:${id}:start`);
    try {
      const existing = this.host.instances.get(id);
      if (existing?.powerState === PowerState.Suspended) {
        throw new ConflictError(`server ${id} is suspended on this host; resume it`, { serverId: id });
      }
      if (existing && existing.powerState !== PowerState.Shutdown) {
        if (existing.spec.vcpus !== spec.vcpus || existing.spec.ramMb !== spec.ramMb) {
          throw new ConflictError(`server ${id} already runs on this host with another shape`, { serverId: id });
        }
        this.tracked.add(id);
        return this.statusOf(id);
      }
      await this.delay();
      const failure = this.failures.shift();
      if (failure) {
        this.host.instances.delete(id);
        this.tracked.delete(id);
        throw new HypervisorError('spawn', id, failure.message);
      }
      this.host.instances.set(id, { spec, pid: this.host.allocatePid(), powerState: PowerState.Running });
      this.tracked.add(id);
      this.events.emit(id, PowerState.Running, 'spawned');
      return this.statusOf(id);
    } finally {
      this.calls.push(`spawn:${id}:end`);
    }
  }

  async destroy(serverId: string): Promise<boolean> {
    const id = assertServerId(serverId);
    this.calls.push(`destroy:${id}:start`);
    try {
      const instance = this.host.instances.get(id);
      if (!instance) return false;
      await this.delay();
      this.host.instances.delete(id);
      this.tracked.delete(id);
      if (instance.powerState !== PowerState.Shutdown) this.events.emit(id, PowerState.Shutdown, 'destroyed');
      return true;
    } finally {
      this.calls.push(`destroy:${id}:end`);
    }
  }

  stop(serverId: string, options: StopOptions): Promise<InstanceStatus> {
    validateStopOptions(options);
    return this.powerOp('stop', assertServerId(serverId), (instance) => {
      instance.powerState = PowerState.Shutdown;
      return 'stop';
    });
  }

  start(spec: InstanceSpec): Promise<InstanceStatus> {
    return this.bootOp('start', validateInstanceSpec(spec), () => 'start');
  }

  reboot(serverId: string, options: RebootOptions): Promise<InstanceStatus> {
    const { type } = validateRebootOptions(options);
    return this.powerOp('reboot', assertServerId(serverId), (instance) => {
      // HARD resets in place; SOFT (and HARD from a stopped or suspended state) boots a new process.
      const inPlace = type === 'HARD' && instance.powerState !== PowerState.Shutdown && instance.powerState !== PowerState.Suspended;
      if (!inPlace) instance.pid = this.host.allocatePid();
      instance.powerState = PowerState.Running;
      return inPlace ? 'RESET:host-qmp-system-reset' : `reboot:${type.toLowerCase()}`;
    });
  }

  pause(serverId: string): Promise<InstanceStatus> {
    return this.powerOp('pause', assertServerId(serverId), (instance) => {
      instance.powerState = PowerState.Paused;
      return 'STOP';
    });
  }

  unpause(serverId: string): Promise<InstanceStatus> {
    return this.powerOp('unpause', assertServerId(serverId), (instance) => {
      instance.powerState = PowerState.Running;
      return 'RESUME';
    });
  }

  suspend(serverId: string): Promise<InstanceStatus> {
    return this.powerOp('suspend', assertServerId(serverId), (instance) => {
      instance.powerState = PowerState.Suspended;
      return 'suspend';
    });
  }

  resume(spec: InstanceSpec): Promise<InstanceStatus> {
    return this.bootOp('resume', validateInstanceSpec(spec), (instance) => (instance?.powerState === PowerState.Suspended ? 'resume' : 'start'));
  }

  async status(serverId: string): Promise<InstanceStatus> {
    const id = assertServerId(serverId);
    if (!this.tracked.has(id)) return { serverId: id, powerState: PowerState.NoState };
    return this.statusOf(id);
  }

  async consoleLog(serverId: string, options: ConsoleLogOptions): Promise<string> {
    const { lines } = validateConsoleLogOptions(options);
    const instance = this.tracked.has(assertServerId(serverId)) ? this.host.instances.get(serverId) : undefined;
    if (!instance) throw new NotFoundError(`server ${serverId} is not on this host`, { serverId });
    const text = instance.console ?? '';
    if (lines === undefined) return text;
    return lines === 0 ? '' : text.split(/(?<=\n)/).slice(-lines).join('');
  }

  async snapshot(serverId: string, target: SnapshotTarget): Promise<SnapshotResult> {
    const id = assertServerId(serverId);
    const valid = { imageId: assertImageId(target?.imageId), upload: validateSnapshotUpload(target?.upload) };
    this.calls.push(`snapshot:${id}:start`);
    try {
      const instance = this.tracked.has(id) ? this.host.instances.get(id) : undefined;
      if (!instance) throw new NotFoundError(`server ${id} is not on this host`, { serverId: id });
      if (!instance.spec.image || instance.spec.image.diskFormat === 'iso') {
        throw new ConflictError(`server ${id} has no disk of its own to snapshot`, { serverId: id });
      }
      await this.delay();
      const failure = this.snapshotFailures.shift();
      if (failure) throw new HypervisorError('snapshot', id, failure.message);
      this.snapshots.push({ serverId: id, ...valid });
      return { sizeBytes: 0, virtualSize: Math.max(instance.spec.diskGb, 1) * 2 ** 30 };
    } finally {
      this.calls.push(`snapshot:${id}:end`);
    }
  }

  /** The next snapshot fails (after its delay). */
  failNextSnapshot(error: Error = new Error('injected failure')): void {
    this.snapshotFailures.push(error);
  }

  async balloonInfo(serverId: string): Promise<BalloonInfo> {
    return this.balloons.info(assertServerId(serverId));
  }

  async balloonSet(serverId: string, options: { targetBytes: number }): Promise<BalloonInfo> {
    return this.balloons.set(assertServerId(serverId), options?.targetBytes);
  }

  async rebuild(spec: InstanceSpec, options: RebuildOptions): Promise<InstanceStatus> {
    return this.rebuildResize.rebuild(validateInstanceSpec(spec), validateRebuildOptions(options));
  }

  async resize(spec: InstanceSpec, options: ResizeOptions): Promise<InstanceStatus> {
    return this.rebuildResize.resize(validateInstanceSpec(spec), validateResizeOptions(options));
  }

  async confirmResize(serverId: string): Promise<InstanceStatus> {
    return this.rebuildResize.confirmResize(assertServerId(serverId));
  }

  async revertResize(serverId: string, options: ResizeOptions): Promise<InstanceStatus> {
    return this.rebuildResize.revertResize(assertServerId(serverId), validateResizeOptions(options));
  }

  async imageCacheStats(): Promise<ImageCacheStats> {
    return { images: 0, downloads: 0 };
  }

  async evictUnusedImages(): Promise<string[]> {
    return [];
  }

  async list(): Promise<InstanceStatus[]> {
    return [...this.tracked].map((id) => this.statusOf(id));
  }

  async adopt(): Promise<InstanceStatus[]> {
    for (const id of this.host.instances.keys()) this.tracked.add(id);
    return this.list();
  }

  async close(): Promise<void> {
    this.tracked.clear();
  }

  /** A power operation on a known instance: checked against the transition table, then applied. */
  private async powerOp(op: PowerOp, id: string, apply: (instance: FakeInstance) => string): Promise<InstanceStatus> {
    this.calls.push(`${op}:${id}:start`);
    try {
      const instance = this.tracked.has(id) ? this.host.instances.get(id) : undefined;
      if (!instance) throw new NotFoundError(`server ${id} is not on this host`, { serverId: id });
      if (planPowerOp(op, id, instance.powerState) === 'noop') return this.statusOf(id);
      await this.delay();
      this.failIfInjected(op, id);
      const reason = apply(instance);
      this.events.emit(id, instance.powerState, reason);
      return this.statusOf(id);
    } finally {
      this.calls.push(`${op}:${id}:end`);
    }
  }

  /** start and resume: they carry the spec, so an instance unknown here is booted from it. */
  private async bootOp(op: 'start' | 'resume', spec: InstanceSpec, reason: (i?: FakeInstance) => string): Promise<InstanceStatus> {
    const id = spec.serverId;
    this.calls.push(`${op}:${id}:start`);
    try {
      const instance = this.host.instances.get(id);
      if (instance && planPowerOp(op, id, instance.powerState) === 'noop') {
        this.tracked.add(id);
        return this.statusOf(id);
      }
      await this.delay();
      this.failIfInjected(op, id);
      const why = reason(instance);
      this.host.instances.set(id, { spec: instance?.spec ?? spec, pid: this.host.allocatePid(), powerState: PowerState.Running });
      this.tracked.add(id);
      this.events.emit(id, PowerState.Running, why);
      return this.statusOf(id);
    } finally {
      this.calls.push(`${op}:${id}:end`);
    }
  }

  private failIfInjected(op: PowerOp, id: string): void {
    const failure = this.opFailures.get(op)?.shift();
    if (failure) throw new HypervisorError(op, id, failure.message);
  }

  private statusOf(id: string): InstanceStatus {
    const instance = this.host.instances.get(id);
    if (!instance) return { serverId: id, powerState: PowerState.Shutdown };
    const alive = instance.powerState !== PowerState.Shutdown && instance.powerState !== PowerState.Suspended;
    return {
      serverId: id,
      powerState: instance.powerState,
      ...(alive ? { qmpStatus: qmpStatusOf(instance.powerState), pid: instance.pid } : {}),
    };
  }

  private delay(): Promise<void> {
    return this.delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.delayMs)) : Promise.resolve();
  }
}

function qmpStatusOf(powerState: PowerState): string {
  return powerState === PowerState.Crashed ? 'guest-panicked' : powerState;
}
