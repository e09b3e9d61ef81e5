/**
 * Snapshots of a server's root disk (Nova's createImage): a standalone qcow2 of what the guest
 * sees, made in <instance dir>/snapshot.qcow2, uploaded, then deleted.
 *
 * - QEMU runs (running, paused, crashed): the image QEMU has open for writing is never read
 *   behind its back. QMP adds the target as a block node and runs `blockdev-backup` sync=full from
 *   the disk's format node: a point-in-time copy of the whole chain (copy-before-write), while the
 *   guest keeps running; then the node is removed (which flushes it).
 * - No QEMU (stopped, suspended): `qemu-img convert` of overlay + base, the chain named
 *   explicitly, into a new qcow2. A suspended guest's disk matches its saved RAM: only read.
 * Either way the result has no backing file (checked with qemu-img info before it leaves).
 */
import { Logger } from '@nestjs/common';
import { ConflictError, ImageSource, InstanceSpec, NuboError } from '@nubo/contracts';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { HypervisorError, SnapshotResult, SnapshotTarget } from '../hypervisor-driver';
import { ImageCache } from './image-cache';
import { InstanceAccess } from './instance-access';
import { NODE } from './qemu-argv';
import { createBlankQcow2, flattenImage, qemuImgInfo } from './qemu-img';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuMonitor } from './qemu-monitor';
import { QemuPower } from './qemu-power';
import { isAlive, sleep } from './qemu-process';
import { uploadFile } from './snapshot-upload';

const JOB_ID = 'nubo-snapshot';
/** The RPC allows 30 minutes; the copy must end well before, leaving time for the upload. */
const BACKUP_TIMEOUT_MS = 15 * 60_000;

interface QmpJob {
  id: string;
  status: string;
  error?: string;
}

export class QemuSnapshot {
  private readonly logger = new Logger(QemuSnapshot.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly power: QemuPower,
    /** The cache for the server's storage (local or shared). */
    private readonly images: (spec: Pick<InstanceSpec, 'storage' | 'serverId'>) => ImageCache,
    /** Hands the copy's target to QEMU's user before QEMU opens it (instance-access.ts). */
    private readonly access?: InstanceAccess,
  ) {}

  async snapshot(instance: QemuInstance, target: SnapshotTarget): Promise<SnapshotResult> {
    const id = instance.serverId;
    const { paths } = instance;
    const image = instance.spec?.image;
    if (!image || image.diskFormat === 'iso' || !existsSync(paths.disk)) {
      throw new ConflictError(`server ${id} has no disk of its own to snapshot`, { serverId: id });
    }
    await this.instances.probe(instance);
    const started = Date.now();
    await rm(paths.snapshot, { force: true });
    try {
      const live = isAlive(instance.pid, id);
      if (live) await this.backupLive(instance);
      else await this.flatten(instance, image);
      // What leaves the host must stand alone: the image store refuses backing files anyway.
      const info = await qemuImgInfo(paths.snapshot, 'qcow2');
      const sizeBytes = await uploadFile(paths.snapshot, target.upload);
      this.logger.log(
        `snapshot of serverId=${id} (${live ? 'live' : 'offline'}) into imageId=${target.imageId}: ${sizeBytes} bytes in ${Date.now() - started} ms`,
      );
      return { sizeBytes, virtualSize: info.virtualSize };
    } catch (error) {
      if (error instanceof NuboError) throw error;
      throw new HypervisorError('snapshot', id, (error as Error).message);
    } finally {
      await rm(paths.snapshot, { force: true });
    }
  }

  private async flatten(instance: QemuInstance, image: ImageSource): Promise<void> {
    const base = this.images({ serverId: instance.serverId, storage: instance.spec?.storage }).pathOf(image.sha256);
    if (!existsSync(base)) throw new Error('the base image of its disk is missing from the cache');
    await flattenImage({ overlay: instance.paths.disk, base: { path: base, format: image.diskFormat === 'qcow2' ? 'qcow2' : 'raw' }, target: instance.paths.snapshot });
  }

  private async backupLive(instance: QemuInstance): Promise<void> {
    const monitor = await this.power.requireMonitor('snapshot', instance);
    await this.dropLeftovers(monitor);
    await createBlankQcow2(instance.paths.snapshot, await this.diskSize(monitor));
    await this.access?.handOver(instance.paths.snapshot);
    await monitor.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': NODE.snapshot,
      file: { driver: 'file', filename: instance.paths.snapshot },
    });
    try {
      await monitor.execute('blockdev-backup', { 'job-id': JOB_ID, device: NODE.disk, target: NODE.snapshot, sync: 'full', 'auto-dismiss': false });
      await this.waitForJob(monitor, BACKUP_TIMEOUT_MS);
    } finally {
      // Closing the node flushes the copy; the guest's own disk never changed hands.
      await monitor.execute('blockdev-del', { 'node-name': NODE.snapshot }).catch((error: Error) => {
        this.logger.warn(`blockdev-del of the snapshot node of serverId=${instance.serverId} failed: ${error.message}`);
      });
    }
  }

  /** The guest-visible size of the disk, from QEMU (the copy must have the same size). */
  private async diskSize(monitor: QemuMonitor): Promise<number> {
    const nodes = await monitor.execute<Array<{ 'node-name': string; image: { 'virtual-size': number } }>>('query-named-block-nodes', { flat: true });
    const size = nodes.find((n) => n['node-name'] === NODE.disk)?.image['virtual-size'];
    if (!Number.isSafeInteger(size) || (size as number) <= 0) throw new Error(`QEMU has no block node ${NODE.disk}`);
    return size as number;
  }

  /** Polls the backup job until it concludes; cancels it on timeout. Dismisses it either way. */
  private async waitForJob(monitor: QemuMonitor, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let cancelled = false;
    for (;;) {
      const job = (await monitor.execute<QmpJob[]>('query-jobs')).find((j) => j.id === JOB_ID);
      if (!job) throw new Error('the backup job vanished');
      if (job.status === 'concluded') {
        await monitor.execute('job-dismiss', { id: JOB_ID });
        if (job.error) throw new Error(`the backup job failed: ${job.error}`);
        if (cancelled) throw new Error(`the backup did not finish within ${timeoutMs} ms`);
        return;
      }
      if (!cancelled && Date.now() > deadline) {
        cancelled = true;
        await monitor.execute('job-cancel', { id: JOB_ID }).catch(() => undefined);
      }
      await sleep(100);
    }
  }

  /** A snapshot cut short (agent restarted mid-copy) may have left its job and node in QEMU. */
  private async dropLeftovers(monitor: QemuMonitor): Promise<void> {
    const jobs = await monitor.execute<QmpJob[]>('query-jobs');
    const stale = jobs.find((j) => j.id === JOB_ID);
    if (stale) {
      this.logger.warn(`removing a leftover snapshot job (${stale.status}) of serverId=${monitor.serverId}`);
      if (stale.status !== 'concluded') await monitor.execute('job-cancel', { id: JOB_ID }).catch(() => undefined);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const job = (await monitor.execute<QmpJob[]>('query-jobs')).find((j) => j.id === JOB_ID);
        if (!job) break;
        if (job.status === 'concluded') {
          await monitor.execute('job-dismiss', { id: JOB_ID }).catch(() => undefined);
          break;
        }
        await sleep(100);
      }
    }
    await monitor.execute('blockdev-del', { 'node-name': NODE.snapshot }).catch(() => undefined);
  }
}
