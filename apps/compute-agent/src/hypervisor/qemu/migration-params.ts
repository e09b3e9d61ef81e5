/**
 * Live migration, pure parts: the parameters of a migration -> QMP arguments for each side, and
 * QMP's query-migrate / query-block-jobs -> the status the scheduler polls. No I/O.
 */
import { MigrationChannelOptions, MigrationParameters, MigrationPhase, MigrationProgress, MigrationStatusReply, ValidationError } from '@nubo/contracts';

/** QEMU's bound on downtime-limit (ms). */
const MAX_DOWNTIME_MS = 2_000_000;
/** QEMU's bound on multifd-channels. */
const MAX_MULTIFD_CHANNELS = 255;
const PAGE = 4096;

export interface QmpCapability {
  capability: string;
  state: boolean;
}

const int = (value: unknown, field: string, min: number, max: number): number => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`${field} must be an integer from ${min} to ${max}`, field);
  }
  return value;
};

const bool = (value: unknown, field: string): boolean => {
  if (typeof value !== 'boolean') throw new ValidationError(`${field} must be a boolean`, field);
  return value;
};

export function validateChannelOptions(input: unknown, prefix = 'channels'): MigrationChannelOptions {
  const o = (input ?? {}) as Partial<MigrationChannelOptions>;
  if (typeof input !== 'object' || input === null) throw new ValidationError(`${prefix} must be an object`, prefix);
  return {
    multifdChannels: int(o.multifdChannels, `${prefix}.multifdChannels`, 0, MAX_MULTIFD_CHANNELS),
    postcopyAllowed: bool(o.postcopyAllowed, `${prefix}.postcopyAllowed`),
  };
}

export function validateMigrationParameters(input: unknown): MigrationParameters {
  if (typeof input !== 'object' || input === null) throw new ValidationError('parameters must be an object', 'parameters');
  const o = input as Partial<MigrationParameters>;
  const xbzrle = o.xbzrleCacheBytes;
  if (xbzrle !== undefined && xbzrle !== 0) {
    int(xbzrle, 'parameters.xbzrleCacheBytes', PAGE, 2 ** 50);
    // QEMU wants a power of two of at least one page.
    if (!Number.isInteger(Math.log2(xbzrle))) {
      throw new ValidationError('parameters.xbzrleCacheBytes must be a power of two', 'parameters.xbzrleCacheBytes');
    }
  }
  return {
    ...validateChannelOptions(input, 'parameters'),
    maxBandwidthBytesPerSec: int(o.maxBandwidthBytesPerSec, 'parameters.maxBandwidthBytesPerSec', 1, Number.MAX_SAFE_INTEGER),
    downtimeLimitMs: int(o.downtimeLimitMs, 'parameters.downtimeLimitMs', 1, MAX_DOWNTIME_MS),
    autoConverge: bool(o.autoConverge, 'parameters.autoConverge'),
    ...(xbzrle ? { xbzrleCacheBytes: xbzrle } : {}),
  };
}

export function validateDowntimeLimit(value: unknown): number {
  return int(value, 'downtimeLimitMs', 1, MAX_DOWNTIME_MS);
}

const multifdOn = (o: MigrationChannelOptions) => o.multifdChannels > 1;

/** Capabilities the destination sets before it listens: those both ends must agree on. */
export function destinationCapabilities(o: MigrationChannelOptions): QmpCapability[] {
  return [
    { capability: 'multifd', state: multifdOn(o) },
    { capability: 'postcopy-ram', state: o.postcopyAllowed },
  ];
}

/**
 * The source's capabilities. With disks mirrored, `pause-before-switchover` stops the migration
 * once the vCPUs are stopped, so the mirrors can be drained before the destination runs.
 */
export function sourceCapabilities(p: MigrationParameters, options: { block: boolean }): QmpCapability[] {
  return [
    ...destinationCapabilities(p),
    { capability: 'auto-converge', state: p.autoConverge },
    { capability: 'xbzrle', state: (p.xbzrleCacheBytes ?? 0) > 0 },
    { capability: 'pause-before-switchover', state: options.block },
    // MIGRATION events (off by default) tell the agent at once when the switchover waits.
    { capability: 'events', state: options.block },
  ];
}

/** migrate-set-parameters on the source (max-bandwidth lifts QEMU's 128 MiB/s default cap). */
export function sourceParameters(p: MigrationParameters): Record<string, number> {
  return {
    'max-bandwidth': p.maxBandwidthBytesPerSec,
    'downtime-limit': p.downtimeLimitMs,
    ...(multifdOn(p) ? { 'multifd-channels': p.multifdChannels } : {}),
    ...(p.xbzrleCacheBytes ? { 'xbzrle-cache-size': p.xbzrleCacheBytes } : {}),
  };
}

/** migrate-set-parameters on the destination (multifd-channels must match the source's). */
export function destinationParameters(o: MigrationChannelOptions): Record<string, number> {
  return multifdOn(o) ? { 'multifd-channels': o.multifdChannels } : {};
}

/** The parts of query-migrate we read. */
export interface QmpMigrationInfo {
  status?: string;
  ram?: { total?: number; transferred?: number; remaining?: number; 'dirty-pages-rate'?: number };
  downtime?: number;
  'expected-downtime'?: number;
  'error-desc'?: string;
}

export interface QmpBlockJob {
  device: string;
  type: string;
  len: number;
  offset: number;
  ready?: boolean;
  status?: string;
}

const PHASE_OF_STATUS: Record<string, MigrationPhase> = {
  none: 'none',
  setup: 'setup',
  'wait-unplug': 'setup',
  active: 'active',
  'pre-switchover': 'active',
  device: 'active',
  cancelling: 'active',
  'postcopy-active': 'postcopy-active',
  'postcopy-paused': 'postcopy-active',
  'postcopy-recover': 'postcopy-active',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

const progress = (total: number, processed: number, remaining: number): MigrationProgress => ({ totalBytes: total, processedBytes: processed, remainingBytes: remaining });

/**
 * The status of a migration. `mirroring`: the disks are being copied and `migrate` has not been
 * sent yet. `failure` is an error the agent saw itself (a mirror that broke before migrate).
 * `started` false: `migrate` has not been sent for this migration, so whatever query-migrate says
 * is about an earlier one (a former destination answers `completed` for its incoming migration).
 */
export function migrationStatusOf(qmp: QmpMigrationInfo, jobs: QmpBlockJob[], options: { mirroring: boolean; failure?: string; started?: boolean }): MigrationStatusReply {
  const info: QmpMigrationInfo = options.started === false ? { status: 'setup' } : qmp;
  const ram = info.ram ?? {};
  const memory = progress(ram.total ?? 0, ram.transferred ?? 0, ram.remaining ?? 0);
  const mirrors = jobs.filter((job) => job.type === 'mirror');
  const disk = mirrors.length
    ? progress(
        sum(mirrors.map((j) => j.len)),
        sum(mirrors.map((j) => j.offset)),
        sum(mirrors.map((j) => Math.max(0, j.len - j.offset))),
      )
    : undefined;
  let phase: MigrationPhase = options.failure ? 'failed' : options.mirroring ? 'mirroring' : (PHASE_OF_STATUS[info.status ?? 'none'] ?? 'active');
  if (phase === 'none' && options.mirroring) phase = 'mirroring';
  const error = options.failure ?? info['error-desc'];
  return {
    phase,
    memory,
    ...(disk ? { disk } : {}),
    ...(info.downtime !== undefined ? { downtimeMs: info.downtime } : {}),
    ...(ram['dirty-pages-rate'] !== undefined ? { dirtyPagesRate: ram['dirty-pages-rate'] } : {}),
    ...(info['expected-downtime'] !== undefined ? { expectedDowntimeMs: info['expected-downtime'] } : {}),
    ...(error && (phase === 'failed' || phase === 'cancelled') ? { error } : {}),
  };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
