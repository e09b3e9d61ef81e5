/**
 * Live migration, source side: mirror the disks to the destination's NBD exports (block
 * migration), set capabilities and parameters, `migrate`, and report progress; cancel, or after
 * success quit the source QEMU without reporting a power-off.
 *
 * Disks: the mirrors run in the background until the migration stops the vCPUs; with
 * `pause-before-switchover` QEMU then waits, the mirrors are completed (block-job-cancel on a
 * ready mirror drains it: the target is consistent) and `migrate-continue` sends the device state.
 * So the destination never runs on a disk that misses a write.
 *
 * While `migrate` runs the instance is `quiet`: the STOP at switchover is no pause of the guest's
 * and the source's end is no power-off. A failed or cancelled migration gives the events back.
 *
 * An agent restarted mid-migration knows nothing in memory: the first call naming the migration
 * takes it over from `outgoing-migration.json` and QMP (the mirror jobs and NBD nodes by their
 * names, the switchover watch re-armed), so that status, adjust and cancel keep working. One that
 * never reached `migrate` (the agent died while mirroring) is rolled back, and `start` begins again.
 *
 * query-migrate speaks of this migration only once `migrate` was sent for it (`sent`, and
 * `migrateSent` in the marker): before that a former destination still answers `completed` for the
 * migration that brought it here, which must never read as this one's completion (cleanupSource
 * would end the only copy of the guest). QEMU bugs worked around: qemu-migration-quirks.ts.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, MigrationParameters, MigrationProgress, MigrationStatusReply, PowerState } from '@nubo/contracts';
import { rm } from 'node:fs/promises';
import { HypervisorError } from '../hypervisor-driver';
import { MigrationIds, StartOutgoing } from '../live-migration-driver';
import { OUTGOING_MARKER, readMarker, removeMarker, writeMarker } from './migration-markers';
import { QmpBlockJob, QmpMigrationInfo, migrationStatusOf, sourceCapabilities, sourceParameters } from './migration-params';
import { migratableDisks, tcpUri } from './qemu-migration-incoming';
import { effectiveSourceParameters, measureDirtyRate, migrateWasSent, noDirtyRateMeasurement, sweepLeftovers, waitForCleanup } from './qemu-migration-source-qmp';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher } from './qemu-launcher';
import { QemuMonitor } from './qemu-monitor';
import { QemuPower } from './qemu-power';
import { isAlive, sleep } from './qemu-process';

interface Outgoing {
  migrationId: string;
  parameters: MigrationParameters;
  /** Block job ids and the NBD target nodes they write to. */
  jobs: string[];
  targets: string[];
  mirroring: boolean;
  /** `migrate` was sent (or is being sent) for this migration. */
  sent: boolean;
  failure?: string;
  cancelRequested?: boolean;
  lastDisk?: MigrationProgress;
  /** The mirrors are being completed at switchover (once). */
  draining?: boolean;
}

const ACTIVE = new Set(['setup', 'active', 'pre-switchover', 'device', 'wait-unplug', 'cancelling']);

export class QemuMigrationOutgoing {
  private readonly logger = new Logger(QemuMigrationOutgoing.name);
  private readonly byServer = new Map<string, Outgoing>();
  /** The last status of migrations whose source is gone (cleanupSource), for a late poll. */
  private readonly ended = new Map<string, MigrationStatusReply>();
  /** Dirty-rate measurements under way, by server. */
  private readonly measuring = new Map<string, Promise<number>>();
  /** The last status of a migration that failed by itself and was rolled back, for a late poll. */
  private readonly rolledBack = new Map<string, { migrationId: string; reply: MigrationStatusReply }>();

  constructor(
    private readonly instances: QemuInstances,
    private readonly launcher: QemuLauncher,
    private readonly power: QemuPower,
  ) {}

  async start(instance: QemuInstance, input: StartOutgoing): Promise<void> {
    const id = instance.serverId;
    const known = (await this.takeOver(instance, input.migrationId)) ?? this.byServer.get(id);
    if (known?.migrationId === input.migrationId) return;
    if (known) throw new ConflictError(`server ${id} is being migrated by migration ${known.migrationId}`, { serverId: id });
    await this.instances.probe(instance);
    if (instance.powerState !== PowerState.Running && instance.powerState !== PowerState.Paused) {
      throw new ConflictError(`server ${id} is ${instance.powerState}: only a running or paused server migrates live`, { serverId: id });
    }
    const monitor = await this.power.requireMonitor('migration-start', instance);
    const info = await monitor.execute<QmpMigrationInfo>('query-migrate');
    if (ACTIVE.has(info.status ?? '') || info.status?.startsWith('postcopy')) {
      throw new ConflictError(`server ${id} is migrating already (${info.status})`, { serverId: id });
    }
    const exports = input.destination.nbd?.exports ?? [];
    const disks = migratableDisks(instance.spec ?? { serverId: id, vcpus: 1, ramMb: 1, diskGb: 0 }).map((d) => d.node).sort();
    if (exports.length && JSON.stringify(exports.map((e) => e.node).sort()) !== JSON.stringify(disks)) {
      throw new ConflictError(`the destination exports ${exports.map((e) => e.node).join(',')} but server ${id} has disks ${disks.join(',')}`, { serverId: id });
    }
    await sweepLeftovers(monitor, id, this.logger);
    const record: Outgoing = { migrationId: input.migrationId, parameters: input.parameters, jobs: [], targets: [], mirroring: exports.length > 0, sent: false };
    this.byServer.set(id, record);
    this.ended.delete(id);
    this.rolledBack.delete(id);
    const marker = { migrationId: input.migrationId, parameters: input.parameters };
    await writeMarker(instance.paths.dir, OUTGOING_MARKER, marker);
    try {
      const parameters = await effectiveSourceParameters(monitor, input, this.logger);
      for (const [i, e] of exports.entries()) {
        const target = `mig-target-${i}`;
        const job = `mig-mirror-${i}`;
        const server = { type: 'inet', host: input.destination.address, port: String(input.destination.nbd!.port) };
        await monitor.execute('blockdev-add', { driver: 'nbd', 'node-name': target, server, export: e.name });
        record.targets.push(target);
        await monitor.execute('blockdev-mirror', { 'job-id': job, device: e.node, target, sync: 'full' });
        record.jobs.push(job);
      }
      if (record.jobs.length) await this.waitReady(monitor, record, input.deadline);
      await monitor.execute('migrate-set-capabilities', { capabilities: sourceCapabilities(parameters, { block: record.jobs.length > 0 }) });
      await monitor.execute('migrate-set-parameters', sourceParameters(parameters));
      if (record.jobs.length) this.drainAtSwitchover(id, monitor, record);
      await waitForCleanup(monitor, id, this.logger);
      await noDirtyRateMeasurement(monitor);
      instance.quiet = true;
      // Marked before `migrate`: a restarted agent then reads QEMU's status (see takeOver).
      await writeMarker(instance.paths.dir, OUTGOING_MARKER, { ...marker, migrateSent: true });
      record.sent = true;
      // Checked with nothing awaited before `migrate` is written: a cancel from here on sees `sent`.
      if (record.cancelRequested) throw new Error('cancelled before migrate');
      await monitor.execute('migrate', { uri: tcpUri(input.destination.address, input.destination.port) });
      record.mirroring = false;
      this.logger.log(`migration ${input.migrationId}: serverId=${id} migrating to ${input.destination.address}:${input.destination.port}${record.jobs.length ? ` with ${record.jobs.length} disk(s)` : ''}`);
    } catch (error) {
      await this.rollback(instance, monitor, record);
      throw new HypervisorError('migration-start', id, (error as Error).message);
    }
  }

  async status(instance: QemuInstance | undefined, { serverId: id, migrationId }: MigrationIds): Promise<MigrationStatusReply> {
    const record = (instance && (await this.takeOver(instance, migrationId))) || this.byServer.get(id);
    const ended = this.ended.get(id);
    if (!instance || !isAlive(instance.pid, id)) {
      if (ended && record?.migrationId !== migrationId) return ended;
    }
    if (!instance) throw new ConflictError(`server ${id} is not on this host`, { serverId: id, migrationId });
    const mine = record?.migrationId === migrationId ? record : undefined;
    // Not (or no longer) known here: whatever QEMU says is about another migration.
    if (!mine) return this.rolledBack.get(id)?.migrationId === migrationId ? this.rolledBack.get(id)!.reply : migrationStatusOf({ status: 'none' }, [], { mirroring: false });
    const monitor = await this.power.requireMonitor('migration-status', instance);
    const info = await monitor.execute<QmpMigrationInfo>('query-migrate');
    // Should the MIGRATION event have been missed (a monitor reconnect), the poll completes the mirrors.
    if (mine.sent && info.status === 'pre-switchover') void this.drain(id, monitor, mine);
    const jobs = (await monitor.execute<QmpBlockJob[]>('query-block-jobs')).filter((job) => mine.jobs.includes(job.device));
    const reply = migrationStatusOf(info, jobs, { mirroring: mine.mirroring, failure: mine.failure, started: mine.sent });
    if (reply.disk) mine.lastDisk = reply.disk;
    // Mirrors completed at switchover: the disks were fully copied.
    if (mine.lastDisk && !reply.disk) reply.disk = { ...mine.lastDisk, processedBytes: mine.lastDisk.totalBytes, remainingBytes: 0 };
    // QEMU gave up by itself (the destination went away): the source runs on, as it was.
    if (mine.sent && !mine.mirroring && (reply.phase === 'failed' || reply.phase === 'cancelled')) {
      await this.rollback(instance, monitor, mine);
      this.rolledBack.set(id, { migrationId, reply });
    }
    return reply;
  }

  async adjust(instance: QemuInstance, { serverId: id, migrationId }: MigrationIds, change: { downtimeLimitMs?: number; startPostcopy?: boolean }): Promise<void> {
    const record = (await this.takeOver(instance, migrationId)) ?? this.byServer.get(id);
    if (record?.migrationId !== migrationId) throw new ConflictError(`no migration ${migrationId} of server ${id} runs here`, { serverId: id, migrationId });
    const monitor = await this.power.requireMonitor('migration-adjust', instance);
    if (change.downtimeLimitMs !== undefined) await monitor.execute('migrate-set-parameters', { 'downtime-limit': change.downtimeLimitMs });
    if (!change.startPostcopy) return;
    if (!record.parameters.postcopyAllowed) throw new ConflictError(`migration ${migrationId} was started without post-copy; it cannot switch to it`, { serverId: id, migrationId });
    const info = await monitor.execute<QmpMigrationInfo>('query-migrate');
    if (info.status?.startsWith('postcopy') || info.status === 'completed') return;
    if (info.status !== 'active') throw new ConflictError(`migration ${migrationId} is ${info.status ?? 'none'}: cannot switch to post-copy`, { serverId: id, migrationId });
    await monitor.execute('migrate-start-postcopy');
    this.logger.log(`migration ${migrationId}: serverId=${id} switched to post-copy`);
  }

  /** Stops the migration; the source keeps running. Idempotent; refused in post-copy and once completed. */
  async cancel(instance: QemuInstance | undefined, { serverId: id, migrationId }: MigrationIds): Promise<boolean> {
    const record = (instance && (await this.takeOver(instance, migrationId))) || this.byServer.get(id);
    if (!record || record.migrationId !== migrationId || !instance) return false;
    const monitor = await this.power.requireMonitor('migration-cancel', instance);
    // Before `migrate` QEMU's status is an earlier migration's: only the mirrors need stopping.
    const info = record.sent ? await monitor.execute<QmpMigrationInfo>('query-migrate') : { status: 'none' };
    if (info.status?.startsWith('postcopy')) throw new ConflictError(`migration ${migrationId} of server ${id} is in post-copy: it cannot be cancelled`, { serverId: id, migrationId });
    if (info.status === 'completed' && !record.mirroring && (await monitor.queryStatus()).status === 'postmigrate') {
      throw new ConflictError(`migration ${migrationId} of server ${id} has completed: finish it`, { serverId: id, migrationId });
    }
    record.cancelRequested = true;
    if (record.sent) await monitor.execute('migrate_cancel');
    const deadline = Date.now() + 30_000;
    for (let s = info.status; ACTIVE.has(s ?? '') && Date.now() < deadline; ) {
      await sleep(20);
      s = (await monitor.execute<QmpMigrationInfo>('query-migrate')).status;
      if (s?.startsWith('postcopy') || s === 'completed') throw new ConflictError(`migration ${migrationId} reached ${s} before the cancel`, { serverId: id, migrationId });
    }
    await this.rollback(instance, monitor, record);
    this.logger.log(`migration ${migrationId}: cancelled; serverId=${id} stays on this host`);
    return true;
  }

  /** After success: the source QEMU quits, unreported, and its directory goes. Idempotent. */
  async cleanupSource(instance: QemuInstance | undefined, { serverId: id, migrationId }: MigrationIds): Promise<boolean> {
    if (!instance) return false;
    const record = this.byServer.get(id);
    const marker = readMarker(instance.paths.dir, OUTGOING_MARKER);
    if (record?.migrationId !== migrationId && marker?.migrationId !== migrationId) {
      throw new ConflictError(`server ${id} on this host is not the source of migration ${migrationId}`, { serverId: id, migrationId });
    }
    let last: MigrationStatusReply | undefined;
    if (isAlive(instance.pid, id)) {
      last = await this.status(instance, { serverId: id, migrationId });
      if (last.phase !== 'completed') throw new ConflictError(`migration ${migrationId} of server ${id} is ${last.phase}, not completed`, { serverId: id, migrationId });
      // A source whose migration completed has its vCPUs stopped for good; a running guest is never ended here.
      const run = await (await this.power.requireMonitor('migration-cleanup', instance)).queryStatus();
      if (run.status !== 'postmigrate') throw new ConflictError(`server ${id} is ${run.status} here: migration ${migrationId} did not complete from this host`, { serverId: id, migrationId });
      instance.quiet = true;
      await this.launcher.terminate('migration-cleanup', id, instance.pid, instance.monitor);
    }
    this.instances.forget(instance);
    await rm(instance.paths.dir, { recursive: true, force: true });
    this.byServer.delete(id);
    if (last) this.ended.set(id, last);
    this.logger.log(`migration ${migrationId}: source of serverId=${id} removed`);
    return true;
  }

  /** MiB/s. One measurement at a time (QEMU refuses a second): a call meanwhile gets the running one's. */
  dirtyRate(instance: QemuInstance, seconds: number): Promise<number> {
    const id = instance.serverId;
    const running = this.measuring.get(id);
    if (running) return running;
    const measurement = this.power
      .requireMonitor('migration-dirty-rate', instance)
      .then((monitor) => measureDirtyRate(monitor, id, seconds))
      .finally(() => this.measuring.delete(id));
    this.measuring.set(id, measurement);
    return measurement;
  }

  /**
   * The record of `migrationId`: the one in memory, or the one a previous agent left (its marker),
   * rebuilt from QMP. Undefined when neither names it. A migration that never got past the mirrors
   * is rolled back here (its record is then gone again).
   */
  private async takeOver(instance: QemuInstance, migrationId: string): Promise<Outgoing | undefined> {
    const id = instance.serverId;
    const known = this.byServer.get(id);
    if (known) return known.migrationId === migrationId ? known : undefined;
    const marker = readMarker(instance.paths.dir, OUTGOING_MARKER);
    if (marker?.migrationId !== migrationId || !marker.parameters || !isAlive(instance.pid, id)) return undefined;
    const monitor = await this.power.requireMonitor('migration-take-over', instance);
    const info = await monitor.execute<QmpMigrationInfo>('query-migrate');
    const jobs = (await monitor.execute<QmpBlockJob[]>('query-block-jobs')).map((j) => j.device).filter((d) => d.startsWith('mig-mirror-'));
    const nodes = await monitor.execute<Array<{ 'node-name'?: string }>>('query-named-block-nodes', { flat: true }).catch(() => []);
    const targets = [...new Set(nodes.map((n) => n['node-name'] ?? '').filter((n) => n.startsWith('mig-target-')))];
    const sent = await migrateWasSent(monitor, info, marker.migrateSent === true);
    const record: Outgoing = { migrationId, parameters: marker.parameters, jobs, targets, mirroring: false, sent };
    if (this.byServer.has(id)) return this.takeOver(instance, migrationId); // another call took it over meanwhile
    this.byServer.set(id, record);
    if (!sent) {
      this.logger.warn(`migration ${migrationId}: serverId=${id} was left before it started by a previous agent; rolling back its mirrors`);
      await this.rollback(instance, monitor, record);
      return undefined;
    }
    instance.quiet = !['failed', 'cancelled'].includes(info.status ?? 'none');
    if (jobs.length && instance.quiet) this.drainAtSwitchover(id, monitor, record);
    this.logger.log(`migration ${migrationId}: serverId=${id} taken over from a previous agent (${info.status}, ${jobs.length} mirror(s))`);
    return record;
  }

  private async waitReady(monitor: QemuMonitor, record: Outgoing, deadline: number): Promise<void> {
    for (;;) {
      if (record.cancelRequested) throw new Error('cancelled while mirroring');
      const jobs = (await monitor.execute<QmpBlockJob[]>('query-block-jobs')).filter((job) => record.jobs.includes(job.device));
      if (jobs.length < record.jobs.length) throw new Error('a disk mirror ended before it was ready (see QEMU BLOCK_JOB_ERROR)');
      if (jobs.every((job) => job.ready)) return;
      if (Date.now() > deadline) throw new Error('the disk mirrors were not ready before the deadline');
      await sleep(50);
    }
  }

  /** On `pre-switchover`: completes the mirrors (draining them), then lets the migration finish. */
  private drainAtSwitchover(id: string, monitor: QemuMonitor, record: Outgoing): void {
    let status = '';
    const watch = monitor.watchEvent('MIGRATION', (data) => ['pre-switchover', 'completed', 'failed', 'cancelled'].includes((status = String(data.status))), 24 * 3600_000);
    void watch.arrived.then((seen) => (seen && status === 'pre-switchover' ? this.drain(id, monitor, record) : undefined));
  }

  private async drain(id: string, monitor: QemuMonitor, record: Outgoing): Promise<void> {
    if (record.draining) return;
    record.draining = true;
    try {
      for (const job of record.jobs) await monitor.execute('block-job-cancel', { device: job });
      const until = Date.now() + 60_000;
      while ((await monitor.execute<QmpBlockJob[]>('query-block-jobs')).some((job) => record.jobs.includes(job.device))) {
        if (Date.now() > until) throw new Error('the disk mirrors did not complete within 60 s');
        await sleep(5);
      }
      await monitor.execute('migrate-continue', { state: 'pre-switchover' });
    } catch (error) {
      record.failure = `completing the disk mirrors at switchover: ${(error as Error).message}`;
      this.logger.warn(`migration ${record.migrationId}: serverId=${id} ${record.failure}`);
      await monitor.execute('migrate_cancel').catch(() => undefined);
    }
  }

  /** Back to a plain running source: no mirror, no NBD node, events reported again. */
  private async rollback(instance: QemuInstance, monitor: QemuMonitor, record: Outgoing): Promise<void> {
    const id = instance.serverId;
    for (const job of record.jobs) await monitor.execute('block-job-cancel', { device: job, force: true }).catch(() => undefined);
    const until = Date.now() + 30_000;
    while (Date.now() < until && (await monitor.execute<QmpBlockJob[]>('query-block-jobs').catch(() => [])).some((job) => record.jobs.includes(job.device))) await sleep(20);
    for (const target of record.targets) await monitor.execute('blockdev-del', { 'node-name': target }).catch((e: Error) => this.logger.warn(`blockdev-del ${target}: ${e.message}`));
    // A migration that failed after stopping the vCPUs leaves them stopped on some paths.
    const status = await monitor.queryStatus().catch(() => undefined);
    if (status && status.status !== 'running' && status.status !== 'paused' && instance.powerState === PowerState.Running) {
      await monitor.execute('cont').catch((e: Error) => this.logger.warn(`cont of serverId=${id}: ${e.message}`));
    }
    if (this.byServer.get(id) === record) this.byServer.delete(id);
    await removeMarker(instance.paths.dir, OUTGOING_MARKER);
    instance.quiet = false;
    await this.instances.probe(instance);
  }
}
