/**
 * The source side's QMP steps that need nothing but the monitor: the parameters QEMU gets, what an
 * earlier migration left behind, whether query-migrate speaks of this migration, dirty-rate
 * measurements. Used by qemu-migration-outgoing.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, MigrationParameters } from '@nubo/contracts';
import { HypervisorError } from '../hypervisor-driver';
import { StartOutgoing } from '../live-migration-driver';
import { QmpBlockJob, QmpMigrationInfo } from './migration-params';
import { precopyLosesWrites, qemuVersionOf, safeChannels } from './qemu-migration-quirks';
import { QemuMonitor } from './qemu-monitor';
import { sleep } from './qemu-process';

/** The parameters QEMU gets: the request's, less what this QEMU cannot do safely (qemu-migration-quirks.ts). */
export async function effectiveSourceParameters(monitor: QemuMonitor, input: StartOutgoing, logger: Logger): Promise<MigrationParameters> {
  const { serverId: id, migrationId } = input;
  const version = await qemuVersionOf(monitor);
  const parameters = safeChannels(input.parameters, version);
  const qemu = `QEMU ${version.major}.${version.minor}.${version.micro}`;
  if (parameters !== input.parameters) {
    logger.log(`migration ${migrationId}: serverId=${id} migrates with one stream, not ${input.parameters.multifdChannels} multifd channels (${qemu}'s multifd sender can deadlock)`);
  }
  const kvm = await monitor.execute<{ enabled: boolean }>('query-kvm');
  const { 'base-memory': ramBytes } = await monitor.execute<{ 'base-memory': number }>('query-memory-size-summary');
  if (precopyLosesWrites(version, { tcg: !kvm.enabled, ramBytes })) {
    logger.warn(`migration ${migrationId}: serverId=${id} is a TCG guest whose RAM is a multiple of 256 KiB: ${qemu} may lose its writes during pre-copy (qemu-migration-quirks.ts)`);
  }
  return parameters;
}

/**
 * QEMU cleans a failed migration up in the background; until it has, `migrate` answers
 * "duplicate yank instance". A cleanup held up by a connection that hangs is forced by yanking
 * it; one that never comes (the multifd deadlock of qemu-migration-quirks.ts, in a QEMU that an
 * earlier agent let use multifd) fails the start with a message that says so.
 */
export async function waitForCleanup(monitor: QemuMonitor, id: string, logger: Logger): Promise<void> {
  const pending = async () => (await monitor.execute<Array<{ type: string }>>('query-yank').catch(() => [])).some((y) => y.type === 'migration');
  const until = Date.now() + 15_000;
  for (let yanked = false; await pending(); ) {
    if (!yanked && Date.now() > until - 10_000) {
      logger.warn(`serverId=${id}: an earlier migration is still being cleaned up by QEMU; yanking its connections`);
      await monitor.execute('yank', { instances: [{ type: 'migration' }] }).catch(() => undefined);
      yanked = true;
    }
    if (Date.now() > until) throw new Error('QEMU has not cleaned up an earlier migration (its yank instance remains)');
    await sleep(100);
  }
}

/**
 * Mirrors and NBD nodes an earlier migration could not remove (its rollback ran while the
 * destination was unreachable) go before a new one reuses their names.
 */
export async function sweepLeftovers(monitor: QemuMonitor, id: string, logger: Logger): Promise<void> {
  const jobs = (await monitor.execute<QmpBlockJob[]>('query-block-jobs')).map((j) => j.device).filter((d) => d.startsWith('mig-mirror-'));
  for (const job of jobs) await monitor.execute('block-job-cancel', { device: job, force: true }).catch(() => undefined);
  const until = Date.now() + 30_000;
  while (jobs.length && (await monitor.execute<QmpBlockJob[]>('query-block-jobs')).some((j) => jobs.includes(j.device))) {
    if (Date.now() > until) throw new ConflictError(`server ${id} still has the disk mirrors of an earlier migration`, { serverId: id });
    await sleep(50);
  }
  const nodes = await monitor.execute<Array<{ 'node-name'?: string }>>('query-named-block-nodes', { flat: true });
  for (const node of new Set(nodes.map((n) => n['node-name'] ?? '').filter((n) => n.startsWith('mig-target-')))) {
    await monitor.execute('blockdev-del', { 'node-name': node });
    logger.warn(`serverId=${id}: removed ${node}, left by an earlier migration`);
  }
}

/**
 * Whether query-migrate is about the migration a marker names. Active states are always its own
 * (QEMU runs one at a time); `completed` only with the vCPUs stopped for good (`postmigrate`: a
 * former destination's stale `completed` leaves them running); `failed` and `cancelled` only once
 * `migrate` was sent.
 */
export async function migrateWasSent(monitor: QemuMonitor, info: QmpMigrationInfo, markedSent: boolean): Promise<boolean> {
  const status = info.status ?? 'none';
  if (status === 'none') return false;
  if (status === 'completed') return (await monitor.queryStatus()).status === 'postmigrate';
  if (status === 'failed' || status === 'cancelled') return markedSent;
  return true;
}

/** Waits out a dirty-rate measurement in progress (bounded: the longest is 60 s). */
export async function noDirtyRateMeasurement(monitor: QemuMonitor): Promise<void> {
  const until = Date.now() + 65_000;
  while ((await monitor.execute<{ status: string }>('query-dirty-rate')).status === 'measuring' && Date.now() < until) await sleep(100);
}

/** MiB/s the guest dirties, measured over `seconds` (after any measurement already running). */
export async function measureDirtyRate(monitor: QemuMonitor, id: string, seconds: number): Promise<number> {
  await noDirtyRateMeasurement(monitor);
  await monitor.execute('calc-dirty-rate', { 'calc-time': seconds });
  const deadline = Date.now() + seconds * 1000 + 10_000;
  for (;;) {
    await sleep(200);
    const rate = await monitor.execute<{ status: string; 'dirty-rate'?: number }>('query-dirty-rate');
    if (rate.status === 'measured') return rate['dirty-rate'] ?? 0;
    if (Date.now() > deadline) throw new HypervisorError('migration-dirty-rate', id, `no measurement after ${seconds} s (${rate.status})`);
  }
}
