/**
 * An in-memory driver with the same contract as the QEMU one, for unit tests and scale tests
 * (many agents, no QEMU). Instances live in a `FakeHost` that outlives driver objects, so a
 * "restarted agent" (a new driver on the same host) can adopt them.
 */
import { ConflictError, InstanceSpec, InstanceStatus, PowerState } from '@nubo/contracts';
import { Accelerator, HypervisorDriver, HypervisorError, PowerStateEmitter, PowerStateListener } from '../hypervisor-driver';
import { assertServerId, validateInstanceSpec } from '../instance-spec';

interface FakeInstance {
  spec: InstanceSpec;
  pid: number;
  powerState: PowerState;
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
  private readonly tracked = new Set<string>();
  private readonly events = new PowerStateEmitter();
  private readonly delayMs: number;
  private failures: Error[] = [];

  constructor(options: FakeDriverOptions = {}) {
    this.host = options.host ?? new FakeHost();
    this.accelerator = options.accelerator ?? 'kvm';
    this.delayMs = options.delayMs ?? 0;
  }

  /** The next spawn fails (after its delay) and leaves nothing behind, as the contract demands. */
  failNextSpawn(error: Error = new Error('injected failure')): void {
    this.failures.push(error);
  }

  /** Simulates something happening to the guest (shutdown from inside, a panic, ...). */
  simulate(serverId: string, powerState: PowerState, reason = 'simulated'): void {
    const instance = this.host.instances.get(serverId);
    if (!instance) throw new Error(`no fake instance ${serverId}`);
    instance.powerState = powerState;
    this.events.emit(serverId, powerState, reason);
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
      if (existing && existing.powerState !== PowerState.Shutdown) {
        if (existing.spec.vcpus !== spec.vcpus || existing.spec.ramMb !== spec.ramMb) {
          throw new ConflictError(`server ${id} already runs on this host with another shape`, { serverId: id });
        }
        this.tracked.add(id);
        return this.snapshot(id);
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
      return this.snapshot(id);
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

  async status(serverId: string): Promise<InstanceStatus> {
    const id = assertServerId(serverId);
    if (!this.tracked.has(id)) return { serverId: id, powerState: PowerState.NoState };
    return this.snapshot(id);
  }

  async list(): Promise<InstanceStatus[]> {
    return [...this.tracked].map((id) => this.snapshot(id));
  }

  async adopt(): Promise<InstanceStatus[]> {
    for (const id of this.host.instances.keys()) this.tracked.add(id);
    return this.list();
  }

  async close(): Promise<void> {
    this.tracked.clear();
  }

  private snapshot(id: string): InstanceStatus {
    const instance = this.host.instances.get(id);
    if (!instance) return { serverId: id, powerState: PowerState.Shutdown };
    const alive = instance.powerState !== PowerState.Shutdown;
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
