/**
 * Starting and ending one QEMU. `fresh` builds the instance directory from nothing (spawn) and
 * removes it again if the start fails; otherwise the directory is reused (start, reboot, resume)
 * and only what QEMU itself made (sockets, pidfile) is cleared, so a failed start never loses a
 * disk or saved RAM.
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec } from '@nubo/contracts';
import { existsSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { Accelerator, HypervisorError } from '../hypervisor-driver';
import { chooseAccelerator } from './accelerator';
import { ImageCache, ImageLease } from './image-cache';
import { InstanceAccess } from './instance-access';
import { trimConsoleLog } from './console-log';
import { BaseImage, InstancePaths, buildQemuArgv, socketsOf } from './qemu-argv';
import { createBlankQcow2, createOverlay } from './qemu-img';
import { QemuMonitor } from './qemu-monitor';
import { QemuUser, dropPrivilegesCommand, findExecutable, resolveQemuUser } from './qemu-user';
import { LaunchedQemu, QemuExit, findQemuPids, isAlive, killQemu, launchQemu, readPidfile, signalQemu, stderrTail, waitForExit } from './qemu-process';

export interface QemuLauncherOptions {
  /** The host's default; a spec's own accelerator (from its image) wins. */
  accelerator: Accelerator;
  /** Whether /dev/kvm opens (default: tried on each start); injectable for tests. */
  kvmAvailable?: () => boolean;
  netns?: string;
  qemuBinary?: string;
  /** Time QEMU has to answer QMP after it is started. */
  startTimeoutMs?: number;
  /** Time QEMU has to exit after `quit` before it gets SIGKILL. */
  quitTimeoutMs?: number;
  /**
   * The user QEMU runs as (qemu-user.ts): absent, nubo-qemu when it exists and the agent is root;
   * '' for none (QEMU runs as the agent).
   */
  qemuUser?: string;
  /** Empty PCIe root ports per QEMU for hot-plugged NICs (default DEFAULT_SPARE_ROOT_PORTS). */
  hotplugPorts?: number;
}

export interface LaunchOptions {
  /** Build the directory from nothing, and remove it if the start fails. */
  fresh: boolean;
  /** Start waiting for a migration stream (resume): QEMU answers `inmigrate`, not `running`. */
  incoming?: boolean;
}

export interface Started {
  pid: number;
  monitor: QemuMonitor;
  qmpStatus: string;
  /** Resolves with QEMU's exit status (the agent is its parent). */
  exitStatus?: Promise<QemuExit>;
}

const GiB = 2 ** 30;

export class QemuLauncher {
  private readonly logger = new Logger(QemuLauncher.name);
  /** Who owns what QEMU opens (shared with snapshot and suspend, which hand files to QEMU). */
  readonly access: InstanceAccess;

  /** `sharedImages`: the base images on shared storage, under the disks of shared-storage servers. */
  constructor(
    private readonly options: QemuLauncherOptions,
    readonly images: ImageCache,
    private readonly sharedImages?: ImageCache,
  ) {
    this.access = new InstanceAccess(resolveQemuUser(options.qemuUser));
  }

  /** The cache the server's base image comes from: a shared disk's backing file must be shared too. */
  imagesFor(spec: Pick<InstanceSpec, 'storage' | 'serverId'>): ImageCache {
    if (spec.storage !== 'shared') return this.images;
    if (!this.sharedImages) throw new HypervisorError('storage', spec.serverId, 'this host has no shared storage (NUBO_AGENT_SHARED_STORAGE_DIR is not set)');
    return this.sharedImages;
  }

  /** Starts QEMU for `spec`; on failure kills what it started, cleans up, and throws `HypervisorError(op)`. */
  async launch(op: string, spec: InstanceSpec, paths: InstancePaths, options: LaunchOptions): Promise<Started> {
    const id = spec.serverId;
    // Never a second QEMU on one instance (a first one the agent lost track of still has the disk).
    const running = findQemuPids(paths.pidfile).filter((pid) => isAlive(pid, id));
    if (running.length) throw new HypervisorError(op, id, `a QEMU of this instance already runs (pid ${running.join(', ')})`);
    let launched: LaunchedQemu | undefined;
    let monitor: QemuMonitor | undefined;
    // Leased until QEMU runs on it: the cache's sweep must not take a base nothing names yet.
    let image: ImageLease | undefined;
    // Shared disks this start made (a first start): removed again if it fails. Disks that were
    // there (another host's, an incoming migration's) are never touched.
    let madeSharedDisks = false;
    try {
      if (spec.storage === 'shared' && !paths.sharedDisks) throw new Error('this host has no shared storage (NUBO_AGENT_SHARED_STORAGE_DIR is not set)');
      // The source still runs on the shared disks: a destination must never make fresh ones.
      if (options.incoming && paths.sharedDisks) {
        const expected = [...(spec.image && spec.image.diskFormat !== 'iso' ? [paths.disk] : []), ...(spec.ephemeralGb ? [paths.ephemeral] : [])];
        const missing = expected.filter((disk) => !existsSync(disk));
        if (missing.length) throw new Error(`the shared disk ${missing.join(', ')} is missing`);
      }
      const accelerator = chooseAccelerator(spec.accelerator, this.options.accelerator, this.options.kvmAvailable);
      // The image first: a download can be long and a bad image must leave no directory behind.
      image = spec.image ? await this.imagesFor(spec).lease(spec.image) : undefined;
      const argv = buildQemuArgv({ spec, paths, accelerator, image, incoming: options.incoming, spareRootPorts: this.options.hotplugPorts });
      if (options.fresh) await rm(paths.dir, { recursive: true, force: true });
      await this.access.prepareInstanceDir(paths);
      if (paths.sharedDisks) {
        madeSharedDisks = options.fresh && !existsSync(paths.sharedDisks);
        await this.access.prepareSharedDisks(paths);
      }
      await trimConsoleLog(paths.console);
      // Leftovers of a dead QEMU (stale sockets, pidfile) must not be mistaken for the new one.
      for (const stale of [...socketsOf(paths), paths.pidfile]) await rm(stale, { force: true });
      await writeFile(`${paths.spec}.tmp`, `${JSON.stringify(spec, null, 2)}\n`);
      await rename(`${paths.spec}.tmp`, paths.spec);
      if (image) await this.prepareDisk(spec, paths, image);
      await this.prepareEphemeral(spec, paths);
      const runAs = this.access.runAsFor(accelerator, id);
      if (image) await this.access.shareReadOnly(image.path, paths);
      await this.access.handOver(paths.disk, paths.ephemeral, paths.console);
      launched = await launchQemu({ ...this.command(argv, runAs), netns: this.options.netns, stderrPath: paths.stderr });
      const child = launched;
      monitor = await QemuMonitor.connect(paths.qmp, id, {
        timeoutMs: this.options.startTimeoutMs ?? 30_000,
        exited: () => child.exit,
      });
      const status = await monitor.queryStatus();
      const expected = options.incoming ? 'inmigrate' : 'running';
      if (status.status !== expected) throw new Error(`QEMU is ${status.status} after start, not ${expected}`);
      const pid = readPidfile(paths.pidfile) ?? launched.pid;
      this.logger.log(`${op}: started QEMU of serverId=${id} pid=${pid} accel=${accelerator} user=${runAs?.name ?? 'agent'}${this.netnsNote()}`);
      return { pid, monitor, qmpStatus: status.status, ...(pid === launched.pid ? { exitStatus: launched.exited } : {}) };
    } catch (error) {
      const tail = launched ? await stderrTail(paths.stderr) : '';
      monitor?.close();
      if (launched) await killQemu(launched.pid, id);
      if (options.fresh) await rm(paths.dir, { recursive: true, force: true });
      if (madeSharedDisks && paths.sharedDisks) await rm(paths.sharedDisks, { recursive: true, force: true });
      const message = (error as Error).message + (tail ? `; QEMU said: ${tail}` : '');
      throw new HypervisorError(op, id, message);
    } finally {
      image?.release();
    }
  }

  /** `quit` over QMP (SIGTERM without a monitor), then SIGKILL. */
  async terminate(op: string, id: string, pid: number | undefined, monitor: QemuMonitor | undefined): Promise<void> {
    if (monitor?.isConnected) await monitor.quit();
    else signalQemu(pid, id, 'SIGTERM');
    if (await waitForExit(pid, id, this.options.quitTimeoutMs ?? 3_000)) return;
    this.logger.warn(`serverId=${id} pid=${pid} ignored quit; sending SIGKILL`);
    if (!(await killQemu(pid, id))) throw new HypervisorError(op, id, `QEMU pid ${pid} survived SIGKILL`);
  }

  /**
   * The root disk: a qcow2 overlay on the cached base, with an explicit backing format, grown to
   * the flavor's size. Made once; later starts reuse it (it holds the guest's writes). An ISO
   * has no overlay: it is attached read-only.
   */
  private async prepareDisk(spec: InstanceSpec, paths: InstancePaths, image: BaseImage & { virtualSize: number }): Promise<void> {
    if (image.format === 'iso' || existsSync(paths.disk)) return;
    const tmp = `${paths.disk}.tmp`;
    const sizeBytes = Math.max(spec.diskGb * GiB, image.virtualSize);
    await createOverlay({ base: image.path, baseFormat: image.format, overlay: tmp, sizeBytes });
    await rename(tmp, paths.disk);
  }

  /**
   * The flavor's ephemeral disk: a blank qcow2 made on the first start, explicit format, kept by
   * every later start (stop/start, suspend/resume, agent restart); destroy removes the directory.
   */
  private async prepareEphemeral(spec: InstanceSpec, paths: InstancePaths): Promise<void> {
    if (!spec.ephemeralGb || existsSync(paths.ephemeral)) return;
    const tmp = `${paths.ephemeral}.tmp`;
    await createBlankQcow2(tmp, spec.ephemeralGb * GiB);
    await rename(tmp, paths.ephemeral);
  }

  /** QEMU's command: as the agent, or dropped to `runAs` first (setpriv, see qemu-user.ts). */
  private command(argv: string[], runAs: QemuUser | undefined): { binary: string; argv: string[] } {
    if (!runAs) return { binary: this.binary, argv };
    // setpriv would only report a missing QEMU after the fork: say it the way spawn does.
    const binary = findExecutable(this.binary);
    if (!binary) throw new Error(`cannot run ${this.binary}: spawn ${this.binary} ENOENT`);
    const [setpriv, ...drop] = dropPrivilegesCommand(runAs);
    return { binary: setpriv, argv: [...drop, binary, ...argv] };
  }

  private get binary(): string {
    return this.options.qemuBinary ?? 'qemu-system-x86_64';
  }

  private netnsNote(): string {
    return this.options.netns ? ` netns=${this.options.netns}` : '';
  }
}
