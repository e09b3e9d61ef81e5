/**
 * Cold resize of a QEMU instance (Nova's resize on the same host), crash-safe. In the instance
 * directory:
 *
 *   disk.qcow2, ephemeral.qcow2,     what the instance runs with
 *   spec.json
 *   *.resize-orig                    the disks as they were before the resize (complete copies)
 *   spec.json.resize-orig            the spec as it was. Written last: while it exists a resize is
 *                                    pending (confirm or revert) and the kept disks are complete.
 *
 *   resize   stop -> disks aside -> spec aside (commit) -> grow the disks to absolute sizes, only
 *            if smaller -> new spec -> start if asked. A resize that finds the kept spec carries
 *            on after the commit point: it never copies again, so the backups stay the originals.
 *   confirm  delete the kept disks, then the kept spec.
 *   revert   stop -> kept disks over the disks (those still there) -> kept spec over spec.json ->
 *            start if asked.
 *
 * Disks grow with `qemu-img resize -f qcow2` on a `json:` name whose backing is null: the base is
 * neither needed nor opened, and the overlay's header keeps naming it. A flavor's new ephemeral
 * disk (none before) is made blank by the next start, as on a first boot.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, InstanceSpec, InstanceStatus, NuboError, PowerState } from '@nubo/contracts';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { HypervisorError, ResizeOptions } from '../hypervisor-driver';
import { validateInstanceSpec } from '../instance-spec';
import { copyDurably, renameDurably, writeDurably } from './durable-files';
import { InstancePaths } from './qemu-argv';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuPower, withFreshImageUrl } from './qemu-power';
import { isAlive } from './qemu-process';

const run = promisify(execFile);
const GiB = 2 ** 30;

/** Where a pending resize keeps the instance's disks and spec. */
export function keptPaths(paths: InstancePaths): { disk: string; ephemeral: string; spec: string } {
  return { disk: `${paths.disk}.resize-orig`, ephemeral: `${paths.ephemeral}.resize-orig`, spec: `${paths.spec}.resize-orig` };
}

/** The instance's disks and where the resize keeps each. */
const diskPairs = (paths: InstancePaths) => {
  const kept = keptPaths(paths);
  return [
    { live: paths.disk, kept: kept.disk },
    { live: paths.ephemeral, kept: kept.ephemeral },
  ];
};

/** The command line that grows an overlay to `sizeBytes` without opening its base (pure, for tests). */
export function growCommand(disk: string, sizeBytes: number, binary = 'qemu-img'): { file: string; args: string[] } {
  const node = { file: { driver: 'file', filename: disk }, backing: null };
  return { file: binary, args: ['resize', '-q', '-f', 'qcow2', `json:${JSON.stringify(node)}`, String(sizeBytes)] };
}

/**
 * The spec after a resize: the request's (the new flavor's shape, ephemeral disk and topology),
 * with the stored image: the disk was built from it (with the request's fresh URL when the bytes
 * are the same).
 */
export function resizedSpec(stored: InstanceSpec, request: InstanceSpec): InstanceSpec {
  const { image: _asked, ...rest } = request;
  const image = stored.image ? withFreshImageUrl(stored, request).image : undefined;
  return { ...rest, ...(image ? { image } : {}) };
}

const sameShape = (a: InstanceSpec | undefined, b: InstanceSpec) =>
  !!a && a.vcpus === b.vcpus && a.ramMb === b.ramMb && a.diskGb === b.diskGb && (a.ephemeralGb ?? 0) === (b.ephemeralGb ?? 0);

export class QemuResize {
  private readonly logger = new Logger(QemuResize.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly power: QemuPower,
    private readonly options: { qemuImgBinary?: string } = {},
  ) {}

  async resize(instance: QemuInstance, request: InstanceSpec, options: ResizeOptions): Promise<InstanceStatus> {
    return step('resize', instance.serverId, () => this.resizeSteps(instance, request, options));
  }

  async confirm(instance: QemuInstance): Promise<InstanceStatus> {
    return step('confirmResize', instance.serverId, () => this.confirmSteps(instance));
  }

  async revert(instance: QemuInstance, options: ResizeOptions): Promise<InstanceStatus> {
    return step('revertResize', instance.serverId, () => this.revertSteps(instance, options));
  }

  private async resizeSteps(instance: QemuInstance, request: InstanceSpec, options: ResizeOptions): Promise<InstanceStatus> {
    const { serverId: id, paths } = instance;
    const kept = keptPaths(paths);
    await this.usable('resize', instance);
    const stored = existsSync(kept.spec) ? instance.spec : this.requireSpec('resize', instance);
    const target = resizedSpec(stored ?? readSpec('resize', id, kept.spec), request);
    if (!existsSync(kept.spec)) {
      await this.power.stop(instance, { graceSeconds: options.graceSeconds });
      for (const disk of diskPairs(paths)) {
        if (existsSync(disk.live)) await copyDurably(disk.live, disk.kept);
        else await rm(disk.kept, { force: true });
      }
      await copyDurably(paths.spec, kept.spec);
      this.logger.log(`resize of serverId=${id}: disks and spec kept aside`);
    } else if (isAlive(instance.pid, id) && sameShape(instance.spec, target)) {
      // A replay of a resize that got to the end: nothing left to do.
      return this.instances.snapshot(instance);
    } else {
      await this.power.stop(instance, { graceSeconds: options.graceSeconds });
    }
    await this.grow('resize', instance, paths.disk, target.diskGb * GiB);
    await this.grow('resize', instance, paths.ephemeral, (target.ephemeralGb ?? 0) * GiB);
    await writeDurably(paths.spec, `${JSON.stringify(target, null, 2)}\n`);
    instance.spec = target;
    this.logger.log(`resized serverId=${id} to ${target.vcpus} vCPUs, ${target.ramMb} MiB, ${target.diskGb} GiB`);
    return this.settle('resize', instance, options.powerOn);
  }

  private async confirmSteps(instance: QemuInstance): Promise<InstanceStatus> {
    const kept = keptPaths(instance.paths);
    // The disks first: while the spec is there, a revert would still look for them.
    for (const disk of diskPairs(instance.paths)) await rm(disk.kept, { force: true });
    await rm(kept.spec, { force: true });
    return this.instances.probe(instance);
  }

  private async revertSteps(instance: QemuInstance, options: ResizeOptions): Promise<InstanceStatus> {
    const { serverId: id, paths } = instance;
    const kept = keptPaths(paths);
    await this.usable('revertResize', instance);
    if (existsSync(kept.spec)) {
      const old = readSpec('revertResize', id, kept.spec);
      await this.power.stop(instance, { graceSeconds: options.graceSeconds });
      // A kept disk is gone when an earlier revert got past its rename: the live one is the old one then.
      for (const disk of diskPairs(paths)) if (existsSync(disk.kept)) await renameDurably(disk.kept, disk.live);
      // An ephemeral disk the new flavor brought (none before) goes with it.
      if (!old.ephemeralGb) await rm(paths.ephemeral, { force: true });
      await renameDurably(kept.spec, paths.spec);
      instance.spec = old;
      this.logger.log(`reverted the resize of serverId=${id} to ${old.vcpus} vCPUs, ${old.ramMb} MiB`);
    }
    return this.settle('revertResize', instance, options.powerOn);
  }

  /** Boots the instance if asked and not running; powers it off if not asked and running. */
  private async settle(op: string, instance: QemuInstance, powerOn: boolean): Promise<InstanceStatus> {
    const running = isAlive(instance.pid, instance.serverId);
    if (powerOn && !running) return this.power.boot(op, instance, this.requireSpec(op, instance), op);
    if (!powerOn && running) return this.power.stop(instance, { graceSeconds: 0 });
    return this.instances.probe(instance);
  }

  private async usable(op: string, instance: QemuInstance): Promise<void> {
    await this.instances.probe(instance);
    if (instance.powerState === PowerState.Suspended) {
      throw new ConflictError(`cannot ${op} server ${instance.serverId} while it is suspended`, { serverId: instance.serverId, operation: op });
    }
  }

  private requireSpec(op: string, instance: QemuInstance): InstanceSpec {
    if (!instance.spec) throw new HypervisorError(op, instance.serverId, 'its spec.json is missing');
    return instance.spec;
  }

  /** Grows a disk to `sizeBytes` when it is smaller; never shrinks it. No disk (firmware-only, ISO): nothing. */
  private async grow(op: string, instance: QemuInstance, disk: string, sizeBytes: number): Promise<void> {
    if (!existsSync(disk) || sizeBytes === 0) return;
    const binary = this.options.qemuImgBinary ?? 'qemu-img';
    try {
      const { stdout } = await run(binary, ['info', '--output=json', '-f', 'qcow2', disk], { timeout: 60_000, maxBuffer: 1 << 20 });
      const current = Number((JSON.parse(stdout) as { 'virtual-size'?: unknown })['virtual-size']);
      if (!Number.isSafeInteger(current)) throw new Error('qemu-img info gave no virtual size');
      if (current >= sizeBytes) return;
      const command = growCommand(disk, sizeBytes, binary);
      await run(command.file, command.args, { timeout: 120_000, maxBuffer: 1 << 20 });
      this.logger.log(`grew the disk of serverId=${instance.serverId} from ${current} to ${sizeBytes} bytes`);
    } catch (error) {
      const e = error as { stderr?: string; message?: string };
      throw new HypervisorError(op, instance.serverId, `qemu-img: ${(e.stderr?.trim() || e.message || String(error)).split('\n')[0]}`);
    }
  }
}

/** Domain errors pass; anything else (a file system error) becomes HypervisorError(op). */
async function step<T>(op: string, serverId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof NuboError) throw error;
    throw new HypervisorError(op, serverId, (error as Error).message);
  }
}

function readSpec(op: string, serverId: string, path: string): InstanceSpec {
  try {
    return validateInstanceSpec(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new HypervisorError(op, serverId, `the spec kept by the resize is unreadable: ${(error as Error).message}`);
  }
}
