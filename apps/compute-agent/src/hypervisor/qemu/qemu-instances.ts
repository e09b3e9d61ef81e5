/**
 * The QEMU driver's table of instances: what it knows of each (pid, monitor, power state), how
 * monitor events and process exits become power-state changes, and how an instance left by a
 * previous agent is found again from its directory. The directory is the only durable state:
 * spec.json, qemu.pid (checked against /proc), memory.save (the instance is suspended),
 * last-exit.json (why its QEMU last ended, see qemu-exit.ts).
 */
import { Logger } from '@nestjs/common';
import { InstanceExit, InstanceSpec, InstanceStatus, PowerState } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { PowerStateEmitter } from '../hypervisor-driver';
import { validateInstanceSpec } from '../instance-spec';
import { InstancePaths, instancePaths } from './qemu-argv';
import { causeOfShutdown, classifyExit, clearLastExit, foundDeadExit, readLastExit, writeLastExit } from './qemu-exit';
import { MonitorPowerEvent, QemuMonitor, powerStateOf } from './qemu-monitor';
import { isIncomingMigration } from './migration-markers';
import { QemuExit, findQemuPids, isAlive, readPidfile, sleep, waitForExit } from './qemu-process';

/** How long the end of a process waits for its exit status (Node reaps it as SIGCHLD arrives). */
const EXIT_STATUS_WAIT_MS = 1_000;

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
  /** The exit status of a QEMU this agent started; absent for an adopted one (init reaps it). */
  exitStatus?: Promise<QemuExit>;
  /** What the current process said before it ended: its SHUTDOWN reason, GUEST_PANICKED. */
  shutdownReason?: string;
  panicked?: boolean;
  /** Why the last process ended (also in last-exit.json); cleared when a new one runs. */
  lastExit?: InstanceExit;
  /** The end of the current process is classified already (it is reported once). */
  exitKnown?: boolean;
}

export class QemuInstances {
  private readonly logger = new Logger(QemuInstances.name);
  private readonly map = new Map<string, QemuInstance>();
  /** QEMUs being started by this agent: not to be adopted (adoption would take their QMP socket). */
  private readonly starting = new Map<string, Promise<unknown>>();
  readonly events = new PowerStateEmitter();
  closed = false;

  /** `sharedDir`: the host's mount of the cloud's shared storage (NUBO_AGENT_SHARED_STORAGE_DIR). */
  constructor(
    private readonly stateDir: string,
    private readonly sharedDir?: string,
  ) {}

  /**
   * The instance's files. Where its disks are follows `spec` when given (a new instance), else
   * the spec stored in its directory. A shared-storage instance on a host without shared storage
   * gets local paths: the launcher refuses it (it must never get a fresh local disk instead).
   */
  paths(serverId: string, spec?: Pick<InstanceSpec, 'storage'>): InstancePaths {
    const local = instancePaths(this.stateDir, serverId);
    const storage = spec ? spec.storage : storedStorage(local.spec);
    return storage === 'shared' && this.sharedDir ? instancePaths(this.stateDir, serverId, this.sharedDir) : local;
  }

  get(serverId: string): QemuInstance | undefined {
    return this.map.get(serverId);
  }

  all(): QemuInstance[] {
    return [...this.map.values()];
  }

  /**
   * Runs `start` (launch and track a QEMU of `serverId`) so that find() waits for it instead of
   * adopting the half-started process: a console read during a spawn once took the new QEMU's
   * QMP socket, and the spawn's own connection failed.
   */
  async whileStarting<T>(serverId: string, start: () => Promise<T>): Promise<T> {
    const run = start();
    this.starting.set(serverId, run);
    try {
      return await run;
    } finally {
      if (this.starting.get(serverId) === run) this.starting.delete(serverId);
    }
  }

  /** The tracked instance, or the one a previous agent left in the state dir, or undefined. */
  async find(serverId: string): Promise<QemuInstance | undefined> {
    await this.starting.get(serverId)?.catch(() => undefined);
    const tracked = this.map.get(serverId);
    if (tracked) return tracked;
    const dir = this.paths(serverId).dir;
    // An incoming live migration's QEMU is not the server's until the migration finishes.
    if (isIncomingMigration(dir)) return undefined;
    return existsSync(dir) ? this.adopt(serverId) : undefined;
  }

  /** Tracks a freshly started QEMU of `spec`; `exitStatus` when this agent is its parent. */
  track(spec: InstanceSpec, pid: number, monitor: QemuMonitor, qmpStatus: string, exitStatus?: Promise<QemuExit>): QemuInstance {
    const existing = this.map.get(spec.serverId);
    if (existing?.monitor && existing.monitor !== monitor) this.detach(existing);
    const instance: QemuInstance = existing ?? { serverId: spec.serverId, paths: this.paths(spec.serverId, spec), powerState: PowerState.NoState, quiet: false };
    Object.assign(instance, { spec, pid, qmpStatus, exitStatus, shutdownReason: undefined, panicked: false, exitKnown: false });
    // A new process runs: the end of the last one is history.
    instance.lastExit = undefined;
    clearLastExit(instance.paths.dir);
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
    let pid = readPidfile(paths.pidfile);
    // No pidfile yet, or a stale one: a QEMU started by an agent that died at once may still run.
    if (!isAlive(pid, serverId)) pid = findQemuPids(paths.pidfile).find((p) => isAlive(p, serverId)) ?? pid;
    const lastExit = readLastExit(paths.dir);
    const instance: QemuInstance = { serverId, paths, spec: readSpec(paths.spec), pid, powerState: PowerState.NoState, quiet: false, lastExit, exitKnown: true };
    this.map.set(serverId, instance);
    if (!isAlive(pid, serverId)) {
      this.logger.warn(`adopt: serverId=${serverId} has no live QEMU; reporting it ${this.goneState(instance)} (${lastExit?.cause ?? 'found-dead'})`);
      // Nobody watched it end unless an earlier agent recorded why.
      this.markGone(instance, 'found-dead', lastExit ? undefined : foundDeadExit());
      return instance;
    }
    if (lastExit) {
      instance.lastExit = undefined;
      clearLastExit(paths.dir);
    }
    instance.exitKnown = false;
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
    this.ended(instance, reason);
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
    monitor.on('power', (event) => this.onPowerEvent(instance, event));
    monitor.once('closed', () => void this.onMonitorClosed(instance, monitor));
  }

  /** Lets go of the monitor without treating it as QEMU's end. */
  detach(instance: QemuInstance): void {
    const monitor = instance.monitor;
    instance.monitor = undefined;
    monitor?.close();
  }

  /**
   * The process is gone: `suspended` when its RAM is saved, else `shutdown`. `exit` says why (an
   * operation of the agent passes its own verdict); without one the last verdict stands.
   */
  markGone(instance: QemuInstance, reason: string, exit?: InstanceExit): void {
    instance.pid = undefined;
    instance.qmpStatus = undefined;
    if (exit) this.recordExit(instance, exit);
    this.setPowerState(instance, this.goneState(instance), reason, { force: exit !== undefined });
  }

  /** Records why the last process ended, in memory and in the instance directory. */
  recordExit(instance: QemuInstance, exit: InstanceExit): void {
    instance.lastExit = exit;
    instance.exitKnown = true;
    writeLastExit(instance.paths.dir, exit);
    this.logger.log(`serverId=${instance.serverId} QEMU ended: ${exit.cause} (${exit.detail})`);
  }

  setPowerState(instance: QemuInstance, powerState: PowerState, reason: string, options: { force?: boolean } = {}): void {
    if (instance.powerState === powerState && !options.force) return;
    instance.powerState = powerState;
    this.logger.log(`serverId=${instance.serverId} is ${powerState} (${reason})`);
    this.events.emit(instance.serverId, powerState, reason, instance.lastExit);
  }

  snapshot(instance: QemuInstance): InstanceStatus {
    return {
      serverId: instance.serverId,
      powerState: instance.powerState,
      ...(instance.qmpStatus ? { qmpStatus: instance.qmpStatus } : {}),
      ...(instance.pid ? { pid: instance.pid } : {}),
      ...(instance.lastExit ? { lastExit: instance.lastExit } : {}),
    };
  }

  close(): void {
    this.closed = true;
    for (const instance of this.map.values()) instance.monitor?.close();
  }

  private goneState(instance: QemuInstance): PowerState {
    return existsSync(instance.paths.memorySave) ? PowerState.Suspended : PowerState.Shutdown;
  }

  private onPowerEvent(instance: QemuInstance, event: MonitorPowerEvent): void {
    const { powerState, reason, runState } = event;
    if (runState) instance.qmpStatus = runState;
    if (event.event === 'SHUTDOWN') instance.shutdownReason = event.eventReason ?? 'unknown';
    if (event.event === 'GUEST_PANICKED') instance.panicked = true;
    if (instance.quiet) return;
    if (event.event === 'SHUTDOWN') {
      // The guest powered off or panicked: QEMU exits next, and why is known now. Any other
      // SHUTDOWN (a signal, a quit from someone else) waits for the exit status.
      if (!causeOfShutdown(instance.shutdownReason)) return;
      this.recordExit(instance, classifyExit(instance));
      this.setPowerState(instance, powerState, reason, { force: true });
      return;
    }
    // A reset keeps the VM running but is news to the control plane.
    this.setPowerState(instance, powerState, reason, { force: reason.startsWith('RESET') });
  }

  /** The process ended with no operation of the agent behind it: say why, once. */
  private ended(instance: QemuInstance, reason: string, status?: QemuExit): void {
    const exit = instance.exitKnown ? undefined : classifyExit({ ...instance, status });
    this.markGone(instance, reason, exit);
  }

  private async onMonitorClosed(instance: QemuInstance, monitor: QemuMonitor): Promise<void> {
    // A monitor the agent let go of, or one of a process since replaced: not news.
    if (instance.monitor !== monitor) return;
    instance.monitor = undefined;
    if (instance.quiet || this.closed || this.map.get(instance.serverId) !== instance) return;
    // QEMU closes its sockets as it exits; give it a moment to be gone.
    const pid = instance.pid;
    if (await waitForExit(pid, instance.serverId, 3_000)) {
      const status = await settled(instance.exitStatus, EXIT_STATUS_WAIT_MS);
      if (instance.pid === pid && !instance.quiet) this.ended(instance, 'process-exited', status);
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

/** The value of `promise` if it settles within `ms`, else undefined. */
async function settled<T>(promise: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  if (!promise) return undefined;
  return Promise.race([promise, sleep(ms).then(() => undefined)]);
}

/** The storage the stored spec names (no spec: local). */
function storedStorage(specPath: string): InstanceSpec['storage'] {
  if (!existsSync(specPath)) return undefined;
  return readSpec(specPath)?.storage;
}

function readSpec(path: string): InstanceSpec | undefined {
  try {
    return validateInstanceSpec(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}
