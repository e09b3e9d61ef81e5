/**
 * Cold migration, source side: which disks the instance has (and their sizes), and the copy of a
 * powered-off instance's disks into the destination's exports with `qemu-img convert`
 * (qemu-disk-transfer.ts). The source instance is never changed: it stays, powered off, until the
 * move is confirmed (destroyed then) or reverted (started again). A copy refuses to run while the
 * guest does; a copy a previous agent left running (`transfer.pid`) is killed before a new one.
 */
import { Logger } from '@nestjs/common';
import { ColdDisk, ColdDisksReply, ColdTransferReply, ConflictError, InstanceSpec, NuboError, PowerState } from '@nubo/contracts';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ColdTransferInput } from '../cold-migration-driver';
import { HypervisorError } from '../hypervisor-driver';
import { ImageCache } from './image-cache';
import { BaseRef, convertArgs, qcow2Chain } from './qemu-disk-transfer';
import { finishTool, livePid, startTool, stopTool, toolCommand } from './qemu-disk-transfer-process';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher } from './qemu-launcher';
import { isAlive } from './qemu-process';

const run = promisify(execFile);

export interface ColdOutgoingOptions {
  netns?: string;
  qemuImgBinary?: string;
}

export class QemuColdMigrationOutgoing {
  private readonly logger = new Logger(QemuColdMigrationOutgoing.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly launcher: QemuLauncher,
    private readonly options: ColdOutgoingOptions = {},
  ) {}

  /** The root disk (unless an ISO or none) and the ephemeral disk, with their virtual sizes; none on shared storage. */
  async disks(instance: QemuInstance): Promise<ColdDisksReply> {
    const spec = this.specOf('cold-migration-disks', instance);
    // Shared storage: the destination opens the same files; nothing travels.
    if ((spec as { storage?: string }).storage === 'shared') return { disks: [] };
    const { paths } = instance;
    const disks: ColdDisk[] = [];
    if (spec.image && spec.image.diskFormat !== 'iso') {
      if (!existsSync(paths.disk)) throw new HypervisorError('cold-migration-disks', instance.serverId, 'its root disk is missing');
      disks.push({ name: 'disk', virtualSize: await this.virtualSize(instance, paths.disk) });
    }
    if (existsSync(paths.ephemeral)) disks.push({ name: 'ephemeral', virtualSize: await this.virtualSize(instance, paths.ephemeral) });
    return { disks, ...(spec.image && disks.some((d) => d.name === 'disk') ? { baseSha256: spec.image.sha256 } : {}) };
  }

  /** Copies each disk into its export; the guest must be powered off. */
  async transfer(instance: QemuInstance, input: ColdTransferInput): Promise<ColdTransferReply> {
    const id = instance.serverId;
    await this.instances.probe(instance);
    if (isAlive(instance.pid, id)) throw new ConflictError(`server ${id} still runs on this host: it must be powered off before its disks are copied`, { serverId: id });
    if (instance.powerState === PowerState.Suspended) throw new ConflictError(`server ${id} is suspended: its saved RAM cannot travel`, { serverId: id });
    const spec = this.specOf('cold-migration-transfer', instance);
    const { paths } = instance;
    const pidfile = join(paths.dir, 'transfer.pid');
    // A copy a previous agent started (and nobody waits for) would race this one.
    if (!(await stopTool(livePid(pidfile, id), id))) throw new HypervisorError('cold-migration-transfer', id, 'an earlier copy survived SIGKILL');
    const done: ColdTransferReply['disks'] = [];
    for (const e of input.destination.exports) {
      const started = Date.now();
      const base = e.disk === 'disk' ? this.baseOf(id, spec) : undefined;
      const source = e.disk === 'disk' ? paths.disk : paths.ephemeral;
      if (!existsSync(source)) throw new HypervisorError('cold-migration-transfer', id, `its ${e.disk} disk is missing`);
      const args = convertArgs({ source, base, destination: { address: input.destination.address, port: e.port, name: e.name } });
      const command = toolCommand(this.options.qemuImgBinary ?? 'qemu-img', args, { netns: this.options.netns, user: this.launcher.access.user });
      const log = join(paths.dir, `transfer-${e.disk}.log`);
      await rm(log, { force: true });
      const tool = await startTool(command, log);
      await writeFile(pidfile, `${tool.pid}\n`);
      try {
        await finishTool('cold-migration-transfer', id, tool, log, input.deadline);
      } finally {
        await rm(pidfile, { force: true });
      }
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      this.logger.log(`cold migration ${input.migrationId}: ${e.disk} of serverId=${id} copied to ${input.destination.address}:${e.port} in ${seconds} s`);
      done.push({ disk: e.disk, seconds });
    }
    return { disks: done };
  }

  /** The cached base the overlay is built on: the stored spec's image content. */
  private baseOf(id: string, spec: InstanceSpec): BaseRef {
    if (!spec.image || spec.image.diskFormat === 'iso') throw new HypervisorError('cold-migration-transfer', id, 'its root disk has no base image');
    const images: ImageCache = this.launcher.images;
    const path = images.pathOf(spec.image.sha256);
    if (!existsSync(path)) throw new HypervisorError('cold-migration-transfer', id, `its base image ${spec.image.sha256} is not on this host`);
    return { path, format: spec.image.diskFormat === 'qcow2' ? 'qcow2' : 'raw' };
  }

  private specOf(op: string, instance: QemuInstance): InstanceSpec {
    if (!instance.spec) throw new HypervisorError(op, instance.serverId, 'its spec.json is missing');
    return instance.spec;
  }

  /** The disk's size as the guest sees it, from its header only (-U: the guest may still run). */
  private async virtualSize(instance: QemuInstance, file: string): Promise<number> {
    try {
      const { stdout } = await run(this.options.qemuImgBinary ?? 'qemu-img', ['info', '-U', '--output=json', qcow2Chain(file)], { timeout: 30_000, maxBuffer: 1 << 20 });
      const size = Number((JSON.parse(stdout) as { 'virtual-size'?: unknown })['virtual-size']);
      if (!Number.isSafeInteger(size) || size <= 0) throw new Error('qemu-img info gave no virtual size');
      return size;
    } catch (error) {
      if (error instanceof NuboError) throw error;
      const e = error as { stderr?: string; message?: string };
      throw new HypervisorError('cold-migration-disks', instance.serverId, `qemu-img: ${(e.stderr?.trim() || e.message || String(error)).split('\n')[0]}`);
    }
  }
}
