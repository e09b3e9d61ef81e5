/**
 * The memory balloon of a QEMU instance over QMP: `query-balloon` (the RAM the guest has now) and
 * `balloon` (the target its virtio-balloon driver works toward, in bytes). QEMU gets the device
 * from qemu-argv.ts (virtio-balloon-pci, deflate-on-oom=on: a guest short of memory takes RAM
 * back from the balloon by itself); a QEMU started before it had one answers DeviceNotActive,
 * which becomes ConflictError. The guest needs its virtio_balloon driver for `actual` to move.
 */
import { Logger } from '@nestjs/common';
import { BalloonInfo, ConflictError, PowerState } from '@nubo/contracts';
import { QmpCommandError, QmpDisconnectedError } from '@nubo/qmp';
import { BalloonTargets, validateBalloonTarget } from '../balloon-target';
import { HypervisorError } from '../hypervisor-driver';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuMonitor } from './qemu-monitor';

const MiB = 2 ** 20;

export class QemuBalloon {
  private readonly logger = new Logger(QemuBalloon.name);
  private readonly targets = new BalloonTargets();

  constructor(private readonly instances: QemuInstances) {}

  /** Running or paused: QEMU answers for a frozen guest too. */
  async info(instance: QemuInstance): Promise<BalloonInfo> {
    const monitor = await this.monitorIn(instance, 'balloonInfo', [PowerState.Running, PowerState.Paused]);
    return this.read(instance, monitor);
  }

  /** Running only: a paused guest cannot give RAM back, so its `actual` would not move. */
  async set(instance: QemuInstance, targetBytes: number): Promise<BalloonInfo> {
    const bytes = validateBalloonTarget(targetBytes, this.ramMb(instance));
    const monitor = await this.monitorIn(instance, 'balloonSet', [PowerState.Running]);
    await this.qmp(instance, 'balloonSet', () => monitor.execute('balloon', { value: bytes }));
    this.targets.set(instance.serverId, instance.pid!, bytes, (id) => this.instances.get(id)?.pid);
    this.logger.log(`balloon target of serverId=${instance.serverId} set to ${bytes / MiB} MiB`);
    return this.read(instance, monitor);
  }

  private async read(instance: QemuInstance, monitor: QemuMonitor): Promise<BalloonInfo> {
    const { actual } = await this.qmp(instance, 'balloonInfo', () => monitor.execute<{ actual: number }>('query-balloon'));
    const target = this.targets.get(instance.serverId, instance.pid);
    return { actualBytes: actual, maxBytes: this.ramMb(instance) * MiB, ...(target !== undefined ? { targetBytes: target } : {}) };
  }

  private ramMb(instance: QemuInstance): number {
    if (!instance.spec) throw new ConflictError(`server ${instance.serverId} has no readable spec on this host`, { serverId: instance.serverId });
    return instance.spec.ramMb;
  }

  /** The instance's monitor, after a live status check; ConflictError in any other power state. */
  private async monitorIn(instance: QemuInstance, op: string, states: PowerState[]): Promise<QemuMonitor> {
    const { powerState } = await this.instances.probe(instance);
    const monitor = states.includes(powerState) ? await this.instances.monitorOf(instance) : undefined;
    if (!monitor) {
      throw new ConflictError(`cannot ${op} server ${instance.serverId} while it is ${powerState}`, { serverId: instance.serverId, operation: op, powerState });
    }
    return monitor;
  }

  private async qmp<T>(instance: QemuInstance, op: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof QmpCommandError && error.errorClass === 'DeviceNotActive') {
        throw new ConflictError(`server ${instance.serverId} has no balloon device: its QEMU started without one (stop and start it)`, {
          serverId: instance.serverId,
        });
      }
      if (error instanceof QmpDisconnectedError) {
        throw new ConflictError(`cannot ${op} server ${instance.serverId}: its QEMU went away`, { serverId: instance.serverId, operation: op });
      }
      throw new HypervisorError(op, instance.serverId, (error as Error).message);
    }
  }
}
