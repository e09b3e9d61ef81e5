/**
 * Rebuild of a QEMU instance (Nova's rebuild): the guest is stopped, its root disk replaced by a
 * new qcow2 overlay on the (possibly new) image, its ephemeral disk wiped unless preserve_ephemeral
 * (the next start makes a blank one), the new spec stored, and the guest booted unless it is to
 * stay off. The directory, console log and server id stay.
 *
 * Crash-safe: the new overlay is made under a temp name and renamed over disk.qcow2, the spec is
 * written the same way, and `rebuild.op` records the operation id last. A replay that finds its
 * own id there does not make the disk anew (the guest may have written to it since); it only
 * ensures the power state. One that does not finds either the old disk or a fresh one, and makes
 * a fresh one again.
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, InstanceStatus, NuboError } from '@nubo/contracts';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError, RebuildOptions } from '../hypervisor-driver';
import { writeDurably, renameDurably } from './durable-files';
import { ImageCache, ImageLease } from './image-cache';
import { createOverlay } from './qemu-img';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuPower } from './qemu-power';
import { isAlive } from './qemu-process';

const GiB = 2 ** 30;

/** The file that names the last rebuild whose disk swap completed. */
export const rebuildMarker = (dir: string) => join(dir, 'rebuild.op');

export class QemuRebuild {
  private readonly logger = new Logger(QemuRebuild.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly power: QemuPower,
    /** The cache for the server's storage (local or shared). */
    private readonly images: (spec: InstanceSpec) => ImageCache,
  ) {}

  async rebuild(instance: QemuInstance, spec: InstanceSpec, options: RebuildOptions): Promise<InstanceStatus> {
    try {
      return await this.steps(instance, spec, options);
    } catch (error) {
      if (error instanceof NuboError) throw error;
      throw new HypervisorError('rebuild', instance.serverId, (error as Error).message);
    }
  }

  private async steps(instance: QemuInstance, spec: InstanceSpec, options: RebuildOptions): Promise<InstanceStatus> {
    const { serverId: id, paths } = instance;
    const marker = rebuildMarker(paths.dir);
    await this.instances.probe(instance);
    if (readMarker(marker) !== options.rebuildId) {
      // The image first (a download can be long, or fail): the guest runs on meanwhile. Leased
      // until spec.json names it, so the cache's sweep cannot take it.
      const image = spec.image && spec.image.diskFormat !== 'iso' ? await this.images(spec).lease(spec.image) : undefined;
      try {
        // Stopping a suspended guest drops its saved RAM: it belongs to the disk that goes.
        await this.power.stop(instance, { graceSeconds: options.graceSeconds });
        await this.newDisk(instance, spec, image);
        // Nova wipes the ephemeral disk unless asked to keep it; the next start makes a blank one.
        if (!options.preserveEphemeral || !spec.ephemeralGb) await rm(paths.ephemeral, { force: true });
        await writeDurably(paths.spec, `${JSON.stringify(spec, null, 2)}\n`);
        instance.spec = spec;
      } finally {
        image?.release();
      }
      await writeDurably(marker, `${options.rebuildId}\n`);
      this.logger.log(`rebuilt the disk of serverId=${id} from image ${spec.image?.id ?? '(none)'}`);
    }
    const running = isAlive(instance.pid, id);
    if (options.powerOn && !running) return this.power.boot('rebuild', instance, spec, 'rebuild');
    if (!options.powerOn && running) return this.power.stop(instance, { graceSeconds: options.graceSeconds });
    return this.instances.probe(instance);
  }

  /**
   * A fresh overlay on the cached image, grown to the flavor's disk, put in place of the old disk
   * in one rename. Firmware-only and ISO servers have no disk of their own.
   */
  private async newDisk(instance: QemuInstance, spec: InstanceSpec, image: ImageLease | undefined): Promise<void> {
    const { disk } = instance.paths;
    if (!image) {
      await rm(disk, { force: true });
      return;
    }
    const tmp = `${disk}.rebuild`;
    await rm(tmp, { force: true });
    const baseFormat = image.format === 'qcow2' ? 'qcow2' : 'raw';
    await createOverlay({ base: image.path, baseFormat, overlay: tmp, sizeBytes: Math.max(spec.diskGb * GiB, image.virtualSize) });
    await renameDurably(tmp, disk);
  }
}

function readMarker(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
