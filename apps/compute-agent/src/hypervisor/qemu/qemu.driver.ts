/**
 * The QEMU driver: one QEMU process per server, its files in <stateDir>/instances/<serverId>/,
 * driven over QMP. The directory and the pidfile are the only state: a new agent process finds
 * its instances again from them (adopt).
 */
import { Logger } from '@nestjs/common';
import { ConflictError, InstanceSpec, InstanceStatus, PowerState } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Accelerator, HypervisorDriver, HypervisorError, PowerStateEmitter, PowerStateListener } from '../hypervisor-driver';
import { assertServerId, isServerId, validateInstanceSpec } from '../instance-spec';
import { InstancePaths, buildQemuArgv, instancePaths } from './qemu-argv';
import { QemuMonitor, powerStateOf } from './qemu-monitor';
import {
  LaunchedQemu,
  isAlive,
  killQemu,
  launchQemu,
  readPidfile,
  signalQemu,
  stderrTail,
  waitForExit,
} from './qemu-process';

export interface QemuDriverOptions {
  stateDir: string;
  accelerator: Accelerator;
  /** Network namespace QEMU runs in; its QMP sockets are path-based, so the agent reaches them from any namespace. */
  netns?: string;
  qemuBinary?: string;
  /** Time QEMU has to answer QMP after it is started. */
  startTimeoutMs?: number;
  /** Time QEMU has to exit after `quit` before it gets SIGKILL. */
  quitTimeoutMs?: number;
}

interface Tracked {
  serverId: string;
  paths: InstancePaths;
  /** Absent for an adopted instance whose spec.json is missing or unreadable. */
  spec?: InstanceSpec;
  /** Absent once the process is known to be gone. */
  pid?: number;
  monitor?: QemuMonitor;
  powerState: PowerState;
  qmpStatus?: string;
  destroying: boolean;
}

export class QemuDriver implements HypervisorDriver {
  readonly name = 'qemu' as const;
  private readonly logger = new Logger(QemuDriver.name);
  private readonly instances = new Map<string, Tracked>();
  private readonly events = new PowerStateEmitter();
  private closed = false;

  constructor(private readonly options: QemuDriverOptions) {}

  get accelerator(): Accelerator {
    return this.options.accelerator;
  }

  onPowerStateChange(listener: PowerStateListener): () => void {
    return this.events.on(listener);
  }

  async spawn(input: InstanceSpec): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    const id = spec.serverId;
    let tracked = this.instances.get(id);
    if (!tracked && existsSync(this.paths(id).dir)) tracked = await this.adoptOne(id);
    if (tracked && isAlive(tracked.pid, id)) {
      if (tracked.spec && (tracked.spec.vcpus !== spec.vcpus || tracked.spec.ramMb !== spec.ramMb)) {
        throw new ConflictError(`server ${id} already runs on this host with another shape`, { serverId: id });
      }
      this.logger.log(`spawn of serverId=${id}: already running (pid ${tracked.pid})`);
      return this.status(id);
    }
    if (tracked) this.forget(tracked);
    return this.launch(spec);
  }

  async destroy(serverId: string): Promise<boolean> {
    const id = assertServerId(serverId);
    const paths = this.paths(id);
    const tracked = this.instances.get(id);
    if (!tracked && !existsSync(paths.dir)) return false;
    const pid = tracked?.pid ?? readPidfile(paths.pidfile);
    if (tracked) tracked.destroying = true;
    try {
      if (isAlive(pid, id)) await this.stop(id, pid!, tracked?.monitor);
    } catch (error) {
      if (tracked) tracked.destroying = false;
      throw error;
    }
    tracked?.monitor?.close();
    this.instances.delete(id);
    await rm(paths.dir, { recursive: true, force: true });
    if (tracked && tracked.powerState !== PowerState.Shutdown) this.events.emit(id, PowerState.Shutdown, 'destroyed');
    this.logger.log(`destroyed serverId=${id}`);
    return true;
  }

  async status(serverId: string): Promise<InstanceStatus> {
    const id = assertServerId(serverId);
    const tracked = this.instances.get(id);
    if (!tracked) return { serverId: id, powerState: PowerState.NoState };
    if (!isAlive(tracked.pid, id)) {
      this.markGone(tracked, 'process-exited');
      return this.snapshot(tracked);
    }
    // After SHUTDOWN, QEMU is on its way out: no point reconnecting to it.
    if (!tracked.monitor?.isConnected && tracked.powerState !== PowerState.Shutdown) await this.reconnect(tracked);
    if (tracked.monitor?.isConnected) {
      try {
        const status = await tracked.monitor.queryStatus();
        tracked.qmpStatus = status.status;
        this.setPowerState(tracked, powerStateOf(status), `query-status:${status.status}`);
      } catch (error) {
        this.logger.warn(`query-status of serverId=${id} failed: ${(error as Error).message}`);
      }
    }
    return this.snapshot(tracked);
  }

  async list(): Promise<InstanceStatus[]> {
    return [...this.instances.values()].map((t) => this.snapshot(t));
  }

  async adopt(): Promise<InstanceStatus[]> {
    let names: string[] = [];
    try {
      names = await readdir(join(this.options.stateDir, 'instances'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const name of names) {
      if (!isServerId(name)) {
        this.logger.warn(`adopt: ignoring ${name} in the instances directory (not a server id)`);
      } else if (!this.instances.has(name)) {
        await this.adoptOne(name);
      }
    }
    return this.list();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const tracked of this.instances.values()) tracked.monitor?.close();
  }

  private async launch(spec: InstanceSpec): Promise<InstanceStatus> {
    const id = spec.serverId;
    const paths = this.paths(id);
    let launched: LaunchedQemu | undefined;
    let monitor: QemuMonitor | undefined;
    try {
      const argv = buildQemuArgv({ spec, paths, accelerator: this.accelerator });
      // Leftovers of a dead instance (stale sockets, pidfile) must not be mistaken for the new one.
      await rm(paths.dir, { recursive: true, force: true });
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
      await writeFile(`${paths.spec}.tmp`, `${JSON.stringify(spec, null, 2)}\n`);
      await rename(`${paths.spec}.tmp`, paths.spec);
      launched = await launchQemu({ binary: this.binary, argv, netns: this.options.netns, stderrPath: paths.stderr });
      const child = launched;
      monitor = await QemuMonitor.connect(paths.qmp, id, {
        timeoutMs: this.options.startTimeoutMs ?? 30_000,
        exited: () => child.exit,
      });
      const status = await monitor.queryStatus();
      if (status.status !== 'running') throw new Error(`QEMU is ${status.status} after start, not running`);
      const tracked: Tracked = {
        serverId: id,
        paths,
        spec,
        pid: readPidfile(paths.pidfile) ?? launched.pid,
        powerState: PowerState.Running,
        qmpStatus: status.status,
        destroying: false,
      };
      this.instances.set(id, tracked);
      this.watch(tracked, monitor);
      this.logger.log(`spawned serverId=${id} pid=${tracked.pid} accel=${this.accelerator}${this.netnsNote()}`);
      this.events.emit(id, PowerState.Running, 'spawned');
      return this.snapshot(tracked);
    } catch (error) {
      const tail = launched ? await stderrTail(paths.stderr) : '';
      monitor?.close();
      if (launched) await killQemu(launched.pid, id);
      await rm(paths.dir, { recursive: true, force: true });
      const message = (error as Error).message + (tail ? `; QEMU said: ${tail}` : '');
      throw new HypervisorError('spawn', id, message);
    }
  }

  /** `quit` over QMP (SIGTERM without a monitor), then SIGKILL. */
  private async stop(id: string, pid: number, monitor: QemuMonitor | undefined): Promise<void> {
    if (monitor?.isConnected) await monitor.quit();
    else signalQemu(pid, id, 'SIGTERM');
    if (await waitForExit(pid, id, this.options.quitTimeoutMs ?? 3_000)) return;
    this.logger.warn(`serverId=${id} pid=${pid} ignored quit; sending SIGKILL`);
    if (!(await killQemu(pid, id))) throw new HypervisorError('destroy', id, `QEMU pid ${pid} survived SIGKILL`);
  }

  private async adoptOne(id: string): Promise<Tracked> {
    const paths = this.paths(id);
    const pid = readPidfile(paths.pidfile);
    const tracked: Tracked = { serverId: id, paths, spec: readSpec(paths.spec), pid, powerState: PowerState.NoState, destroying: false };
    this.instances.set(id, tracked);
    if (!isAlive(pid, id)) {
      this.logger.warn(`adopt: serverId=${id} has no live QEMU; reporting it shut down`);
      this.markGone(tracked, 'found-dead');
      return tracked;
    }
    try {
      const monitor = await QemuMonitor.connect(paths.qmp, id, {
        timeoutMs: 5_000,
        exited: () => (isAlive(pid, id) ? undefined : { code: null, signal: null }),
      });
      this.watch(tracked, monitor);
      const status = await monitor.queryStatus();
      tracked.qmpStatus = status.status;
      tracked.powerState = powerStateOf(status);
      this.logger.log(`adopted serverId=${id} pid=${pid} status=${status.status}`);
    } catch (error) {
      this.logger.warn(`adopt: serverId=${id} pid=${pid} runs but QMP does not answer: ${(error as Error).message}`);
    }
    return tracked;
  }

  private watch(tracked: Tracked, monitor: QemuMonitor): void {
    tracked.monitor = monitor;
    monitor.on('power', ({ powerState, reason, runState }) => {
      if (runState) tracked.qmpStatus = runState;
      // A reset keeps the VM running but is news to the control plane.
      this.setPowerState(tracked, powerState, reason, { force: reason.startsWith('RESET') });
    });
    monitor.once('closed', () => void this.onMonitorClosed(tracked, monitor));
  }

  private async onMonitorClosed(tracked: Tracked, monitor: QemuMonitor): Promise<void> {
    if (tracked.monitor === monitor) tracked.monitor = undefined;
    if (tracked.destroying || this.closed || this.instances.get(tracked.serverId) !== tracked) return;
    // QEMU closes its sockets as it exits; give it a moment to be gone.
    if (await waitForExit(tracked.pid, tracked.serverId, 3_000)) {
      this.markGone(tracked, 'process-exited');
    } else {
      this.logger.warn(`QMP of serverId=${tracked.serverId} closed while QEMU runs; will reconnect on next status`);
    }
  }

  private async reconnect(tracked: Tracked): Promise<void> {
    try {
      this.watch(tracked, await QemuMonitor.connect(tracked.paths.qmp, tracked.serverId, { timeoutMs: 2_000 }));
    } catch (error) {
      this.logger.warn(`QMP of serverId=${tracked.serverId} unreachable: ${(error as Error).message}`);
    }
  }

  private markGone(tracked: Tracked, reason: string): void {
    tracked.pid = undefined;
    tracked.qmpStatus = undefined;
    this.setPowerState(tracked, PowerState.Shutdown, reason);
  }

  private setPowerState(tracked: Tracked, powerState: PowerState, reason: string, options: { force?: boolean } = {}): void {
    if (tracked.powerState === powerState && !options.force) return;
    tracked.powerState = powerState;
    this.logger.log(`serverId=${tracked.serverId} is ${powerState} (${reason})`);
    this.events.emit(tracked.serverId, powerState, reason);
  }

  private forget(tracked: Tracked): void {
    this.instances.delete(tracked.serverId);
    tracked.monitor?.close();
  }

  private snapshot(t: Tracked): InstanceStatus {
    return {
      serverId: t.serverId,
      powerState: t.powerState,
      ...(t.qmpStatus ? { qmpStatus: t.qmpStatus } : {}),
      ...(t.pid ? { pid: t.pid } : {}),
    };
  }

  private paths(serverId: string): InstancePaths {
    return instancePaths(this.options.stateDir, serverId);
  }

  private get binary(): string {
    return this.options.qemuBinary ?? 'qemu-system-x86_64';
  }

  private netnsNote(): string {
    return this.options.netns ? ` netns=${this.options.netns}` : '';
  }
}

function readSpec(path: string): InstanceSpec | undefined {
  try {
    return validateInstanceSpec(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}
