/**
 * Power operations of the QEMU driver: stop, boot (start), reboot, pause, unpause.
 *
 * QEMU runs without -no-shutdown: when the guest powers off, QEMU exits. So a stopped server has
 * no process (its directory stays), `start` is a new QEMU from that directory, and a SOFT reboot
 * the guest honours is a power-off followed by a new QEMU, as with Nova's libvirt driver. A guest
 * that ignores ACPI (a firmware-only guest does) is reset in place (system_reset) once the grace
 * period is over, so SOFT always ends running.
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, InstanceStatus, PowerState } from '@nubo/contracts';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { HypervisorError, RebootOptions, StopOptions } from '../hypervisor-driver';
import { planPowerOp } from '../power-transitions';
import { hostStopExit } from './qemu-exit';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher, Started } from './qemu-launcher';
import { QemuMonitor, powerStateOf } from './qemu-monitor';
import { isAlive, waitForExit } from './qemu-process';

export class QemuPower {
  private readonly logger = new Logger(QemuPower.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly launcher: QemuLauncher,
  ) {}

  async stop(instance: QemuInstance, options: StopOptions): Promise<InstanceStatus> {
    const id = instance.serverId;
    await this.instances.probe(instance);
    if (planPowerOp('stop', id, instance.powerState) === 'noop') {
      // Off already, and meant to be from now on.
      this.instances.recordExit(instance, hostStopExit('stop: already off'));
      return this.instances.snapshot(instance);
    }
    if (instance.powerState === PowerState.Suspended) {
      // Powering off a suspended server drops its saved RAM.
      await rm(instance.paths.memorySave, { force: true });
      this.instances.markGone(instance, 'stop:saved-ram-dropped', hostStopExit('stop: saved RAM dropped'));
      return this.instances.snapshot(instance);
    }
    instance.quiet = true;
    let how = 'forced';
    try {
      const monitor = await this.instances.monitorOf(instance);
      // Only a running guest can answer the power button.
      if (options.graceSeconds > 0 && monitor && instance.powerState === PowerState.Running) {
        if ((await this.powerButton(monitor, id)) && (await waitForExit(instance.pid, id, options.graceSeconds * 1000))) how = 'acpi';
      }
      if (how === 'forced') await this.launcher.terminate('stop', id, instance.pid, instance.monitor);
    } finally {
      instance.quiet = false;
    }
    this.instances.detach(instance);
    this.instances.markGone(instance, `stop:${how}`, hostStopExit(`stop (${how})`));
    return this.instances.snapshot(instance);
  }

  /**
   * Starts QEMU for an instance whose process is gone, from its directory, or builds it from
   * `spec` when the host has no files for it. The spec the files were made with wins: the disk
   * was built from its image.
   */
  async boot(op: string, instance: QemuInstance | undefined, spec: InstanceSpec, reason: string): Promise<InstanceStatus> {
    const bootSpec = withFreshImageUrl(instance?.spec ?? spec, spec);
    const paths = this.instances.paths(spec.serverId, bootSpec);
    const fresh = !existsSync(paths.dir);
    if (instance) this.instances.detach(instance);
    return this.instances.whileStarting(spec.serverId, async () => {
      let started: Started;
      try {
        started = await this.launcher.launch(op, bootSpec, paths, { fresh });
      } catch (error) {
        if (instance) this.instances.markGone(instance, `${op}-failed`);
        throw error;
      }
      const tracked = this.instances.track(bootSpec, started.pid, started.monitor, started.qmpStatus, started.exitStatus);
      this.instances.setPowerState(tracked, PowerState.Running, reason, { force: true });
      return this.instances.snapshot(tracked);
    });
  }

  async start(instance: QemuInstance | undefined, spec: InstanceSpec): Promise<InstanceStatus> {
    if (!instance) return this.boot('start', undefined, spec, 'start');
    await this.instances.probe(instance);
    if (planPowerOp('start', spec.serverId, instance.powerState) === 'noop') return this.instances.snapshot(instance);
    return this.boot('start', instance, spec, 'start');
  }

  async reboot(instance: QemuInstance, options: RebootOptions): Promise<InstanceStatus> {
    const id = instance.serverId;
    await this.instances.probe(instance);
    planPowerOp('reboot', id, instance.powerState);
    const reason = `reboot:${options.type.toLowerCase()}`;
    if (!isAlive(instance.pid, id)) return this.bootAgain(instance, reason);
    const monitor = await this.requireMonitor('reboot', instance);
    if (options.type === 'SOFT' && options.graceSeconds > 0 && instance.powerState === PowerState.Running) {
      instance.quiet = true;
      try {
        if ((await this.powerButton(monitor, id)) && (await waitForExit(instance.pid, id, options.graceSeconds * 1000))) {
          return await this.bootAgain(instance, reason);
        }
      } finally {
        instance.quiet = false;
      }
      this.logger.log(`serverId=${id} ignored the power button for ${options.graceSeconds} s; resetting it`);
    }
    return this.reset(instance, monitor, reason);
  }

  async pause(instance: QemuInstance): Promise<InstanceStatus> {
    return this.vcpus(instance, 'pause', 'stop', 'paused');
  }

  async unpause(instance: QemuInstance): Promise<InstanceStatus> {
    return this.vcpus(instance, 'unpause', 'cont', 'running');
  }

  async requireMonitor(op: string, instance: QemuInstance): Promise<QemuMonitor> {
    const monitor = await this.instances.monitorOf(instance);
    if (!monitor) throw new HypervisorError(op, instance.serverId, 'QEMU runs but its monitor does not answer');
    return monitor;
  }

  /** Reads the run state and records it; throws unless it is `expected`. */
  async settle(op: string, instance: QemuInstance, monitor: QemuMonitor, expected: string, reason: string): Promise<InstanceStatus> {
    const status = await monitor.queryStatus();
    instance.qmpStatus = status.status;
    if (status.status !== expected) throw new HypervisorError(op, instance.serverId, `QEMU is ${status.status}, not ${expected}`);
    this.instances.setPowerState(instance, powerStateOf(status), reason);
    return this.instances.snapshot(instance);
  }

  private async vcpus(instance: QemuInstance, op: 'pause' | 'unpause', command: string, expected: string): Promise<InstanceStatus> {
    await this.instances.probe(instance);
    if (planPowerOp(op, instance.serverId, instance.powerState) === 'noop') return this.instances.snapshot(instance);
    const monitor = await this.requireMonitor(op, instance);
    await monitor.execute(command);
    return this.settle(op, instance, monitor, expected, op);
  }

  /** A stopped or suspended instance (or one whose guest just powered off) boots afresh. */
  private async bootAgain(instance: QemuInstance, reason: string): Promise<InstanceStatus> {
    if (!instance.spec) throw new HypervisorError('reboot', instance.serverId, 'its spec.json is missing; start it with a spec');
    await rm(instance.paths.memorySave, { force: true });
    return this.boot('reboot', instance, instance.spec, reason);
  }

  /** system_reset in place (same process; QEMU reports RESET), and on again if it was paused. */
  private async reset(instance: QemuInstance, monitor: QemuMonitor, reason: string): Promise<InstanceStatus> {
    try {
      await monitor.execute('system_reset');
      if ((await monitor.queryStatus()).status !== 'running') await monitor.execute('cont');
      return await this.settle('reboot', instance, monitor, 'running', reason);
    } catch (error) {
      // The guest may have powered off after all, just as the grace period ended.
      if (isAlive(instance.pid, instance.serverId)) throw error;
      return this.bootAgain(instance, reason);
    }
  }

  /** Presses the ACPI power button; false when QEMU would not take it. */
  private async powerButton(monitor: QemuMonitor, id: string): Promise<boolean> {
    try {
      await monitor.execute('system_powerdown');
      return true;
    } catch (error) {
      this.logger.warn(`system_powerdown of serverId=${id} failed: ${(error as Error).message}`);
      return false;
    }
  }
}

/** The stored spec, with the caller's image URL when it names the same bytes (stored URLs expire). */
export function withFreshImageUrl(stored: InstanceSpec, request: InstanceSpec): InstanceSpec {
  if (!stored.image || stored.image.sha256 !== request.image?.sha256) return stored;
  return { ...stored, image: { ...stored.image, url: request.image.url } };
}
