/**
 * The QEMU driver: one QEMU process per server, its files in <stateDir>/instances/<serverId>/,
 * driven over QMP; base images shared in <stateDir>/images/<sha256>. The directories and the
 * pidfiles are the only state: a new agent process finds its instances again from them (adopt).
 *
 *   qemu.driver      this facade: the HypervisorDriver contract, instance lookup
 *   qemu-instances   the table of instances, monitor events -> power states, adoption
 *   qemu-launcher    one QEMU start (directory, disk overlay, argv, readiness) and its end
 *   qemu-user        the unprivileged user QEMU runs as; instance-access: what it may open
 *   qemu-power       stop, start, reboot, pause, unpause
 *   qemu-suspend     suspend and resume through a saved migration stream
 *   qemu-snapshot    a standalone qcow2 of the disk, streamed to the image store
 *   console-log      the tail of the serial console log
 *   qemu-balloon     the memory balloon (query-balloon, balloon)
 *   qemu-rebuild     rebuild: a new root disk from the (new) image
 *   qemu-resize      cold resize, its confirm and revert (disk and spec kept aside meanwhile)
 *   image-cache      base images, downloaded once per host and checked; evicted when unused
 *   qemu-interfaces  NIC hot-plug and unplug (os-interface) and the stored spec's NICs
 *   qemu-live-migration  live migration over QMP (source and destination sides)
 */
import { Logger } from '@nestjs/common';
import { BalloonInfo, ConflictError, InstanceSpec, InstanceStatus, NotFoundError, PowerState } from '@nubo/contracts';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Accelerator,
  ConsoleLogOptions,
  HypervisorDriver,
  ImageCacheStats,
  PowerStateListener,
  RebootOptions,
  SnapshotResult,
  SnapshotTarget,
  StopOptions,
} from '../hypervisor-driver';
import {
  assertImageId,
  assertServerId,
  isServerId,
  validateConsoleLogOptions,
  validateInstanceSpec,
  validateRebootOptions,
  validateSnapshotUpload,
  validateStopOptions,
} from '../instance-spec';
import { readConsoleLog } from './console-log';
import { ImageCache } from './image-cache';
import { imagesInUse } from './image-usage';
import { QemuBalloon } from './qemu-balloon';
import { RebuildOptions, ResizeOptions } from '../hypervisor-driver';
import { validateRebuildOptions, validateResizeOptions } from '../rebuild-resize-options';
import { QemuRebuild } from './qemu-rebuild';
import { QemuResize } from './qemu-resize';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher, QemuLauncherOptions } from './qemu-launcher';
import { QemuPower } from './qemu-power';
import { isAlive, readPidfile } from './qemu-process';
import { QemuSnapshot } from './qemu-snapshot';
import { QemuSuspend } from './qemu-suspend';
import { QemuInterfaces } from './qemu-interfaces';
import { NicSpec } from '@nubo/contracts';
import { LiveMigrationOptions, QemuLiveMigration } from './qemu-live-migration';
import { isIncomingMigration } from './migration-markers';
import { QemuColdMigration } from './qemu-cold-migration';

export interface QemuDriverOptions extends QemuLauncherOptions {
  stateDir: string;
  /**
   * The cloud's shared storage as mounted on this host (the same path on every host): disks of
   * `storage: shared` servers in <sharedDir>/instances/<id>/, their base images in <sharedDir>/images.
   */
  sharedDir?: string;
  /** Default: a cache in <stateDir>/images. */
  images?: ImageCache;
  /** Listener ports and firewall table of incoming live migrations. */
  migration?: LiveMigrationOptions;
}

/** The least time a shared base image stays unused before a sweep deletes it. */
const SHARED_IMAGE_MIN_TTL_MS = 86_400_000;

export class QemuDriver implements HypervisorDriver {
  readonly name = 'qemu' as const;
  /** The host's base images (tests read its download counter). */
  readonly images: ImageCache;
  /** Base images on shared storage (shared by every host that mounts it). */
  readonly sharedImages?: ImageCache;
  private readonly logger = new Logger(QemuDriver.name);
  private readonly instances: QemuInstances;
  private readonly launcher: QemuLauncher;
  private readonly power: QemuPower;
  private readonly suspender: QemuSuspend;
  private readonly snapshots: QemuSnapshot;
  private readonly balloon: QemuBalloon;
  private readonly rebuilder: QemuRebuild;
  private readonly resizer: QemuResize;
  private readonly interfaces: QemuInterfaces;
  readonly liveMigration: QemuLiveMigration;
  readonly coldMigration: QemuColdMigration;

  constructor(private readonly options: QemuDriverOptions) {
    this.images = options.images ?? new ImageCache({ dir: join(options.stateDir, 'images') });
    this.sharedImages = options.sharedDir ? new ImageCache({ dir: join(options.sharedDir, 'images') }) : undefined;
    this.instances = new QemuInstances(options.stateDir, options.sharedDir);
    this.launcher = new QemuLauncher(options, this.images, this.sharedImages);
    const imagesFor = (spec: Pick<InstanceSpec, 'storage' | 'serverId'>) => this.launcher.imagesFor(spec);
    this.power = new QemuPower(this.instances, this.launcher);
    this.suspender = new QemuSuspend(this.instances, this.launcher, this.power);
    this.snapshots = new QemuSnapshot(this.instances, this.power, imagesFor, this.launcher.access);
    this.balloon = new QemuBalloon(this.instances);
    this.rebuilder = new QemuRebuild(this.instances, this.power, imagesFor);
    this.resizer = new QemuResize(this.instances, this.power);
    this.interfaces = new QemuInterfaces(this.instances, (op, instance) => this.power.requireMonitor(op, instance));
    this.liveMigration = new QemuLiveMigration(this.instances, this.launcher, this.power, { netns: options.netns, ...options.migration });
    this.coldMigration = new QemuColdMigration(this.instances, this.launcher, this.power, { netns: options.netns, firewall: options.migration?.firewall });
  }

  get accelerator(): Accelerator {
    return this.options.accelerator;
  }

  onPowerStateChange(listener: PowerStateListener): () => void {
    return this.instances.events.on(listener);
  }

  async spawn(input: InstanceSpec): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    const id = spec.serverId;
    const instance = await this.instances.find(id);
    if (!instance) return this.power.boot('spawn', undefined, spec, 'spawned');
    await this.instances.probe(instance);
    if (isAlive(instance.pid, id)) {
      if (instance.spec && (instance.spec.vcpus !== spec.vcpus || instance.spec.ramMb !== spec.ramMb)) {
        throw new ConflictError(`server ${id} already runs on this host with another shape`, { serverId: id });
      }
      this.logger.log(`spawn of serverId=${id}: already running (pid ${instance.pid})`);
      return this.instances.snapshot(instance);
    }
    if (instance.powerState === PowerState.Suspended) {
      throw new ConflictError(`server ${id} is suspended on this host; resume it`, { serverId: id });
    }
    // Its files (and disk) are there but its QEMU is not: start it from them.
    return this.power.boot('spawn', instance, spec, 'spawned');
  }

  async destroy(serverId: string, options: { deleteSharedDisks?: boolean } = {}): Promise<boolean> {
    const id = assertServerId(serverId);
    const paths = this.instances.paths(id);
    const instance = this.instances.get(id);
    // Only the deletion of the server takes its shared disks: another host may run on them.
    const shared = options.deleteSharedDisks && this.options.sharedDir ? join(this.options.sharedDir, 'instances', id) : undefined;
    if (!instance && !existsSync(paths.dir)) {
      if (!shared || !existsSync(shared)) return false;
      await rm(shared, { recursive: true, force: true });
      this.logger.log(`destroyed the shared disks of serverId=${id}`);
      return true;
    }
    const pid = instance?.pid ?? readPidfile(paths.pidfile);
    if (instance) instance.quiet = true;
    try {
      if (isAlive(pid, id)) await this.launcher.terminate('destroy', id, pid, instance?.monitor);
    } catch (error) {
      if (instance) instance.quiet = false;
      throw error;
    }
    if (instance) this.instances.forget(instance);
    // The overlay and any saved RAM go with the directory; the base image stays in the cache.
    await rm(paths.dir, { recursive: true, force: true });
    if (shared) await rm(shared, { recursive: true, force: true });
    if (instance && instance.powerState !== PowerState.Shutdown) this.instances.events.emit(id, PowerState.Shutdown, 'destroyed');
    this.logger.log(`destroyed serverId=${id}`);
    return true;
  }

  async stop(serverId: string, options: StopOptions): Promise<InstanceStatus> {
    const valid = validateStopOptions(options);
    return this.power.stop(await this.known(serverId), valid);
  }

  async start(input: InstanceSpec): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    return this.power.start(await this.instances.find(spec.serverId), spec);
  }

  async reboot(serverId: string, options: RebootOptions): Promise<InstanceStatus> {
    const valid = validateRebootOptions(options);
    return this.power.reboot(await this.known(serverId), valid);
  }

  async pause(serverId: string): Promise<InstanceStatus> {
    return this.power.pause(await this.known(serverId));
  }

  async unpause(serverId: string): Promise<InstanceStatus> {
    return this.power.unpause(await this.known(serverId));
  }

  async suspend(serverId: string): Promise<InstanceStatus> {
    return this.suspender.suspend(await this.known(serverId));
  }

  async resume(input: InstanceSpec): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    return this.suspender.resume(await this.instances.find(spec.serverId), spec);
  }

  async status(serverId: string): Promise<InstanceStatus> {
    const id = assertServerId(serverId);
    const instance = this.instances.get(id);
    if (!instance) return { serverId: id, powerState: PowerState.NoState };
    return this.instances.probe(instance);
  }

  async consoleLog(serverId: string, options: ConsoleLogOptions): Promise<string> {
    const { lines } = validateConsoleLogOptions(options);
    const instance = await this.known(serverId);
    return readConsoleLog(instance.paths.console, { lines });
  }

  async snapshot(serverId: string, target: SnapshotTarget): Promise<SnapshotResult> {
    const valid = { imageId: assertImageId(target?.imageId), upload: validateSnapshotUpload(target?.upload) };
    return this.snapshots.snapshot(await this.known(serverId), valid);
  }

  async balloonInfo(serverId: string): Promise<BalloonInfo> {
    return this.balloon.info(await this.known(serverId));
  }

  async balloonSet(serverId: string, options: { targetBytes: number }): Promise<BalloonInfo> {
    return this.balloon.set(await this.known(serverId), options?.targetBytes);
  }

  async rebuild(input: InstanceSpec, options: RebuildOptions): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    return this.rebuilder.rebuild(await this.known(spec.serverId), spec, validateRebuildOptions(options));
  }

  async resize(input: InstanceSpec, options: ResizeOptions): Promise<InstanceStatus> {
    const spec = validateInstanceSpec(input);
    return this.resizer.resize(await this.known(spec.serverId), spec, validateResizeOptions(options));
  }

  async confirmResize(serverId: string): Promise<InstanceStatus> {
    return this.resizer.confirm(await this.known(serverId));
  }

  async revertResize(serverId: string, options: ResizeOptions): Promise<InstanceStatus> {
    return this.resizer.revert(await this.known(serverId), validateResizeOptions(options));
  }

  async attachInterface(serverId: string, nic: NicSpec): Promise<{ live: boolean }> {
    return this.interfaces.attach(await this.known(serverId), nic);
  }

  async detachInterface(serverId: string, nic: NicSpec, options: { timeoutMs: number }): Promise<{ live: boolean }> {
    return this.interfaces.detach(await this.known(serverId), nic, options?.timeoutMs);
  }

  async imageCacheStats(): Promise<ImageCacheStats> {
    return this.images.stats();
  }

  async evictUnusedImages(options: { ttlMs: number }): Promise<string[]> {
    // Noted before the instances are read: an image leased after this instant is spared.
    const startedAt = Date.now();
    const inUse = await imagesInUse(join(this.options.stateDir, 'instances'));
    const evicted = await this.images.evict({ ttlMs: options.ttlMs, inUse, startedAt });
    if (!this.sharedImages || !this.options.sharedDir) return evicted;
    // Other hosts lease shared images this host cannot see: only images unused for a day go.
    const sharedInUse = await imagesInUse(join(this.options.sharedDir, 'instances'));
    return [...evicted, ...(await this.sharedImages.evict({ ttlMs: Math.max(options.ttlMs, SHARED_IMAGE_MIN_TTL_MS), inUse: sharedInUse, startedAt }))];
  }

  async list(): Promise<InstanceStatus[]> {
    return this.instances.all().map((i) => this.instances.snapshot(i));
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
      } else if (isIncomingMigration(this.instances.paths(name).dir)) {
        this.logger.warn(`adopt: serverId=${name} is an unfinished incoming migration; left for its abort`);
      } else if (!this.instances.get(name)) {
        await this.suspender.reconcile(await this.instances.adopt(name));
      }
    }
    return this.list();
  }

  async close(): Promise<void> {
    this.instances.close();
    this.liveMigration.close();
  }

  /** The instance, tracked or left on the host by a previous agent; NotFoundError otherwise. */
  private async known(serverId: string): Promise<QemuInstance> {
    const id = assertServerId(serverId);
    const instance = await this.instances.find(id);
    if (!instance) throw new NotFoundError(`server ${id} is not on this host`, { serverId: id });
    return instance;
  }
}
