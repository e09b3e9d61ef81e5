/**
 * The QEMU driver's table of instances: what it knows of each (pid, monitor, power state), how
 * monitor events and process exits become power-state changes, and how an instance left by a
 * previous agent is found again from its directory. The directory is the only durable state:
 * spec.json, qemu.pid (checked against /proc), memory.save (the instance is suspended).
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, InstanceStatus, PowerState } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { PowerStateEmitter } from '../hypervisor-driver';
import { validateInstanceSpec } from '../instance-spec';
import { InstancePaths, instancePaths } from './qemu-argv';
import { QemuMonitor, powerStateOf } from './qemu-monitor';
import { isAlive, readPidfile, waitForExit } from './qemu-process';

export interface QemuInstance {
  serverId: string;
  paths: InstancePaths;
  /** Absent for an adopted instance whose spec.json is missing or unreadable. */
  spec?: InstanceSpec;
  /** Absent once the process is known to be gone. */
  pid?: number;
  monitor?: QemuMonitor;
  powerState: PowerState;
  qmpStatus?: string;
  /**
   * An operation of the agent (destroy, stop, suspend, ...) owns the power state: monitor events
   * and the process's exit are recorded but not announced; the operation announces where it ended.
   */
  quiet: boolean;
}

export class QemuInstances {
  private readonly logger = new Logger(QemuInstances.name);
  private readonly map = new Map<string, QemuInstance>();
  readonly events = new PowerStateEmitter();
  closed = false;

  constructor(private readonly stateDir: string) {}

  paths(serverId: string): InstancePaths {
    return instancePaths(this.stateDir, serverId);
  }

  get(serverId: string): QemuInstance | undefined {
    return this.map.get(serverId);
  }

  all(): QemuInstance[] {
    return [...this.map.values()];
  }

  /** The tracked instance, or the one a previous agent left in the state dir, or undefined. */
  async find(serverId: string): Promise<QemuInstance | undefined> {
    const tracked = this.map.get(serverId);
    if (tracked) return tracked;
    return existsSync(this.paths(serverId).dir) ? this.adopt(serverId) : undefined;
  }

  /** Tracks a freshly started QEMU of `spec`. */
  track(spec: InstanceSpec, pid: number, monitor: QemuMonitor, qmpStatus: string): QemuInstance {
    const existing = this.map.get(spec.serverId);
    if (existing?.monitor && existing.monitor !== monitor) this.detach(existing);
    const instance: QemuInstance = existing ?? { serverId: spec.serverId, paths: this.paths(spec.serverId), powerState: PowerState.NoState, quiet: false };
    Object.assign(instance, { spec, pid, qmpStatus });
    this.map.set(spec.serverId, instance);
    this.attach(instance, monitor);
    return instance;
  }

  forget(instance: QemuInstance): void {
    this.detach(instance);
    if (this.map.get(instance.serverId) === instance) this.map.delete(instance.serverId);
  }

  /** Finds an instance from its directory: a live QEMU is watched again, a dead one marked gone. */
  async adopt(serverId: string): Promise<QemuInstance> {
    const paths = this.paths(serverId);
    const pid = readPidfile(paths.pidfile);
    const instance: QemuInstance = { serverId, paths, spec: readSpec(paths.spec), pid, powerState: PowerState.NoState, quiet: false };
    this.map.set(serverId, instance);
    if (!isAlive(pid, serverId)) {
      this.logger.warn(`adopt: serverId=${serverId} has no live QEMU; reporting it ${this.goneState(instance)}`);
      this.markGone(instance, 'found-dead');
      return instance;
    }
    try {
      const monitor = await QemuMonitor.connect(paths.qmp, serverId, {
        timeoutMs: 5_000,
        exited: () => (isAlive(pid, serverId) ? undefined : { code: null, signal: null }),
      });
      this.attach(instance, monitor);
      const status = await monitor.queryStatus();
      instance.qmpStatus = status.status;
      instance.powerState = powerStateOf(status);
      this.logger.log(`adopted serverId=${serverId} pid=${pid} status=${status.status}`);
    } catch (error) {
      this.logger.warn(`adopt: serverId=${serverId} pid=${pid} runs but QMP does not answer: ${(error as Error).message}`);
    }
    return instance;
  }

  /** True when the instance's QEMU runs; otherwise marks it gone. */
  refresh(instance: QemuInstance, reason = 'process-exited'): boolean {
    if (isAlive(instance.pid, instance.serverId)) return true;
    this.markGone(instance, reason);
    return false;
  }

  /**
   * Live state: whether QEMU runs, and what its monitor says (query-status). After SHUTDOWN, QEMU
   * is on its way out: no point reconnecting to it.
   */
  async probe(instance: QemuInstance): Promise<InstanceStatus> {
    if (!this.refresh(instance)) return this.snapshot(instance);
    if (!instance.monitor?.isConnected && instance.powerState !== PowerState.Shutdown) await this.reconnect(instance);
    if (instance.monitor?.isConnected) {
      try {
        const status = await instance.monitor.queryStatus();
        instance.qmpStatus = status.status;
        this.setPowerState(instance, powerStateOf(status), `query-status:${status.status}`);
      } catch (error) {
        this.logger.warn(`query-status of serverId=${instance.serverId} failed: ${(error as Error).message}`);
      }
    }
    return this.snapshot(instance);
  }

  /** The instance's monitor, reconnecting once if QEMU runs but the connection was lost. */
  async monitorOf(instance: QemuInstance): Promise<QemuMonitor | undefined> {
    if (!instance.monitor?.isConnected && isAlive(instance.pid, instance.serverId)) await this.reconnect(instance);
    return instance.monitor?.isConnected ? instance.monitor : undefined;
  }

  attach(instance: QemuInstance, monitor: QemuMonitor): void {
    instance.monitor = monitor;
    monitor.on('power', ({ powerState, reason, runState }) => {
      if (runState) instance.qmpStatus = runState;
      if (instance.quiet) return;
      // A reset keeps the VM running but is news to the control plane.
      this.setPowerState(instance, powerState, reason, { force: reason.startsWith('RESET') });
    });
    monitor.once('closed', () => void this.onMonitorClosed(instance, monitor));
  }

  /** Lets go of the monitor without treating it as QEMU's end. */
  detach(instance: QemuInstance): void {
    const monitor = instance.monitor;
    instance.monitor = undefined;
    monitor?.close();
  }

  /** The process is gone: `suspended` when its RAM is saved, else `shutdown`. */
  markGone(instance: QemuInstance, reason: string): void {
    instance.pid = undefined;
    instance.qmpStatus = undefined;
    this.setPowerState(instance, this.goneState(instance), reason);
  }

  setPowerState(instance: QemuInstance, powerState: PowerState, reason: string, options: { force?: boolean } = {}): void {
    if (instance.powerState === powerState && !options.force) return;
    instance.powerState = powerState;
    this.logger.log(`serverId=${instance.serverId} is ${powerState} (${reason})`);
    this.events.emit(instance.serverId, powerState, reason);
  }

  snapshot(instance: QemuInstance): InstanceStatus {
    return {
      serverId: instance.serverId,
      powerState: instance.powerState,
      ...(instance.qmpStatus ? { qmpStatus: instance.qmpStatus } : {}),
      ...(instance.pid ? { pid: instance.pid } : {}),
    };
  }

  close(): void {
    this.closed = true;
    for (const instance of this.map.values()) instance.monitor?.close();
  }

  private goneState(instance: QemuInstance): PowerState {
    return existsSync(instance.paths.memorySave) ? PowerState.Suspended : PowerState.Shutdown;
  }

  private async onMonitorClosed(instance: QemuInstance, monitor: QemuMonitor): Promise<void> {
    // A monitor the agent let go of, or one of a process since replaced: not news.
    if (instance.monitor !== monitor) return;
    instance.monitor = undefined;
    if (instance.quiet || this.closed || this.map.get(instance.serverId) !== instance) return;
    // QEMU closes its sockets as it exits; give it a moment to be gone.
    const pid = instance.pid;
    if (await waitForExit(pid, instance.serverId, 3_000)) {
      if (instance.pid === pid && !instance.quiet) this.markGone(instance, 'process-exited');
    } else {
      this.logger.warn(`QMP of serverId=${instance.serverId} closed while QEMU runs; will reconnect on next status`);
    }
  }

  private async reconnect(instance: QemuInstance): Promise<void> {
    try {
      this.attach(instance, await QemuMonitor.connect(instance.paths.qmp, instance.serverId, { timeoutMs: 2_000 }));
    } catch (error) {
      this.logger.warn(`QMP of serverId=${instance.serverId} unreachable: ${(error as Error).message}`);
    }
  }
}

function readSpec(path: string): InstanceSpec | undefined {
  try {
    return validateInstanceSpec(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}
