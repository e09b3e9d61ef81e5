/**
 * Suspend and resume (virsh managedsave / start): guest RAM goes to <instance dir>/memory.save and
 * QEMU exits; later a new QEMU started with `-incoming defer` is fed the file and continues.
 *
 * Suspend pauses the vCPUs first (as libvirt does), so the stream is one consistent pass and the
 * saved run state is `paused`: the restored QEMU waits for the agent's `cont`. The file appears
 * under its final name only once QEMU says `completed` and the bytes are fsynced, so its presence
 * means "suspended" to any later agent (status, adopt).
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, InstanceStatus, PowerState } from '@nubo/contracts';
import { existsSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { HypervisorError } from '../hypervisor-driver';
import { planPowerOp } from '../power-transitions';
import { MAX_BANDWIDTH, MigrationSink, feedMigrationStream, waitForMigration, within } from './migration-stream';
import { hostStopExit } from './qemu-exit';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher, Started } from './qemu-launcher';
import { QemuPower, withFreshImageUrl } from './qemu-power';
import { isAlive, killQemu, stderrTail } from './qemu-process';

/** Both RPCs allow 300 s; the migration must end well before. */
const MIGRATION_TIMEOUT_MS = 240_000;

/** How long QEMU gets to report a completed load after the stream to it broke off. */
const FEED_ERROR_GRACE_MS = 10_000;

export class QemuSuspend {
  private readonly logger = new Logger(QemuSuspend.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly launcher: QemuLauncher,
    private readonly power: QemuPower,
  ) {}

  async suspend(instance: QemuInstance): Promise<InstanceStatus> {
    const id = instance.serverId;
    const { paths } = instance;
    await this.instances.probe(instance);
    if (planPowerOp('suspend', id, instance.powerState) === 'noop') return this.instances.snapshot(instance);
    const monitor = await this.power.requireMonitor('suspend', instance);
    const wasRunning = instance.powerState === PowerState.Running;
    const started = Date.now();
    instance.quiet = true;
    const sink = await MigrationSink.listen(paths.saveSock, paths.memorySaveTmp);
    let bytes = 0;
    try {
      // QEMU may run as its own user: it must be able to connect (write) to the agent's socket.
      await this.launcher.access.handOver(paths.saveSock);
      if (wasRunning) await monitor.execute('stop');
      await monitor.execute('migrate-set-parameters', { 'max-bandwidth': MAX_BANDWIDTH });
      await monitor.execute('migrate', { uri: `unix:${paths.saveSock}` });
      await waitForMigration(monitor, MIGRATION_TIMEOUT_MS);
      bytes = await within(sink.done, 30_000, 'writing the saved RAM');
      await rename(paths.memorySaveTmp, paths.memorySave);
      await fsyncDir(paths.dir);
    } catch (error) {
      await monitor.execute('migrate_cancel').catch(() => undefined);
      // `cont` also brings a QEMU that finished migrating (postmigrate) back.
      if (wasRunning) await monitor.execute('cont').catch((e: Error) => this.logger.warn(`cont of serverId=${id} failed: ${e.message}`));
      await rm(paths.memorySaveTmp, { force: true });
      instance.quiet = false;
      await this.instances.probe(instance);
      throw new HypervisorError('suspend', id, (error as Error).message);
    } finally {
      await sink.close();
    }
    try {
      await this.launcher.terminate('suspend', id, instance.pid, monitor);
    } finally {
      instance.quiet = false;
    }
    this.instances.detach(instance);
    this.instances.markGone(instance, 'suspend', hostStopExit('suspend'));
    this.logger.log(`suspended serverId=${id}: ${bytes} bytes of RAM saved in ${Date.now() - started} ms`);
    return this.instances.snapshot(instance);
  }

  async resume(instance: QemuInstance | undefined, spec: InstanceSpec): Promise<InstanceStatus> {
    if (!instance) return this.power.boot('resume', undefined, spec, 'resume:no-saved-ram');
    const id = instance.serverId;
    const { paths } = instance;
    await this.instances.probe(instance);
    if (planPowerOp('resume', id, instance.powerState) === 'noop') return this.instances.snapshot(instance);
    if (instance.powerState === PowerState.Shutdown) {
      this.logger.warn(`resume of serverId=${id}: no saved RAM; booting it`);
      return this.power.boot('resume', instance, spec, 'resume:no-saved-ram');
    }
    const bootSpec = withFreshImageUrl(instance.spec ?? spec, spec);
    const started = Date.now();
    instance.quiet = true;
    this.instances.detach(instance);
    let qemu: Started | undefined;
    try {
      qemu = await this.launcher.launch('resume', bootSpec, paths, { fresh: false, incoming: true });
      await qemu.monitor.execute('migrate-incoming', { uri: `unix:${paths.restoreSock}` });
      // QEMU may hang up as soon as it has read the stream's end marker, before our side of the
      // pipe has finished: QEMU's own migration status, not the socket, says whether it worked.
      const feedError = await within(feedMigrationStream(paths.restoreSock, paths.memorySave), MIGRATION_TIMEOUT_MS, 'sending the saved RAM').then(
        () => undefined,
        (error: Error) => error,
      );
      await waitForMigration(qemu.monitor, feedError ? FEED_ERROR_GRACE_MS : MIGRATION_TIMEOUT_MS).catch((error: Error) => {
        throw feedError ? new Error(`${feedError.message}; then ${error.message}`) : error;
      });
      if (feedError) this.logger.debug(`resume serverId=${id}: stream closed early, but QEMU completed (${feedError.message})`);
      await qemu.monitor.execute('cont');
      const status = await qemu.monitor.queryStatus();
      if (status.status !== 'running') throw new Error(`QEMU is ${status.status} after cont, not running`);
    } catch (error) {
      const tail = qemu ? await stderrTail(paths.stderr) : '';
      qemu?.monitor.close();
      if (qemu) await killQemu(qemu.pid, id);
      await rm(paths.restoreSock, { force: true });
      instance.quiet = false;
      // The saved RAM stays: the resume can be tried again.
      this.instances.markGone(instance, 'resume-failed');
      if (error instanceof HypervisorError) throw error;
      throw new HypervisorError('resume', id, (error as Error).message + (tail ? `; QEMU said: ${tail}` : ''));
    }
    await rm(paths.memorySave, { force: true });
    await rm(paths.restoreSock, { force: true });
    const tracked = this.instances.track(bootSpec, qemu.pid, qemu.monitor, 'running', qemu.exitStatus);
    tracked.quiet = false;
    this.instances.setPowerState(tracked, PowerState.Running, 'resume');
    this.logger.log(`resumed serverId=${id} pid=${qemu.pid} in ${Date.now() - started} ms`);
    return this.instances.snapshot(tracked);
  }

  /**
   * After an agent restart: an instance with both a live QEMU and saved RAM was caught mid-way.
   * Still migrating (inmigrate, postmigrate): the file is the truth, QEMU goes. Running or paused:
   * a resume finished, the file is stale. A half-written file is always dropped.
   */
  async reconcile(instance: QemuInstance): Promise<void> {
    const { paths, serverId } = instance;
    await rm(paths.memorySaveTmp, { force: true });
    await rm(paths.saveSock, { force: true });
    if (!isAlive(instance.pid, serverId) || !existsSync(paths.memorySave)) return;
    if (instance.qmpStatus === 'inmigrate' || instance.qmpStatus === 'postmigrate') {
      this.logger.warn(`adopt: serverId=${serverId} was caught mid-suspend or mid-resume; keeping its saved RAM`);
      instance.quiet = true;
      try {
        await this.launcher.terminate('adopt', serverId, instance.pid, instance.monitor);
      } finally {
        instance.quiet = false;
      }
      this.instances.detach(instance);
      this.instances.markGone(instance, 'adopt:suspended', hostStopExit('suspend (finished after an agent restart)'));
    } else {
      this.logger.warn(`adopt: serverId=${serverId} runs; dropping its stale saved RAM`);
      await rm(paths.memorySave, { force: true });
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
