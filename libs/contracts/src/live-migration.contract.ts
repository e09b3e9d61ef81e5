/**
 * Live migration, the agents' part: QMP primitives on the source and destination agents
 * (agent.<hostId>.server.migration-*). The scheduler drives them; the agents keep no workflow.
 * v1.
 *
 * Order the scheduler calls them in (S = source agent, D = destination agent):
 *   0. S dirtyRate                 pre-flight (optional): how fast the guest dirties its RAM
 *   1. D prepare                   destination QEMU waiting (-incoming defer), listener + NBD opened
 *                                  to the source's underlay address only
 *   2. S start                     mirror disks (block), set capabilities/parameters, `migrate`
 *   3. S status (poll)             progress; S adjust to step the downtime limit or go post-copy
 *   4a. on `completed`: D finish   (the destination becomes the host's instance, announce-self),
 *       then S cleanupSource       (the source QEMU quits without a power-off event)
 *   4b. on failure/timeout (never in postcopy-active): S cancel, then D abortDestination
 *
 * Safe to retry (idempotent per migrationId): prepare (answers the same ports), status, cancel,
 * finish, abortDestination, cleanupSource, dirtyRate. `start` is safe to retry while the
 * migration it started is still known to the source agent (a retry answers {} without starting a
 * second one); `adjust` re-applies the same values. A migration in `postcopy-active` is never
 * cancelled nor its destination aborted: the guest's RAM is split between the two hosts.
 */
import { InstanceSpec } from './compute.contract';
import { AgentCommand, rpc } from './rpc';

/** Every live-migration command names the server and the migration (the scheduler's id). */
export interface MigrationRef extends AgentCommand {
  serverId: string;
  migrationId: string;
}

/** Capabilities both QEMUs must agree on: the destination enables them before it listens. */
export interface MigrationChannelOptions {
  /** Parallel TCP channels for RAM (QEMU's multifd); 0 or 1: one stream, multifd off. */
  multifdChannels: number;
  /** Allow switching to post-copy later (postcopy-ram is set on both sides). */
  postcopyAllowed: boolean;
}

export interface MigrationPrepareRequest extends MigrationRef {
  /** The source's stored spec: same machine type, CPU model and devices. */
  spec: InstanceSpec;
  /** The source agent's underlay address: the only one allowed to connect. */
  sourceAddress: string;
  /** This host's underlay address, where QEMU listens. */
  listenAddress: string;
  /** Local storage: the disks are copied too (NBD export of empty target disks). */
  block: boolean;
  channels: MigrationChannelOptions;
}

export interface MigrationNbdExport {
  /** The block node on the source that maps to this export. */
  node: string;
  /** The export's name on the destination's NBD server. */
  name: string;
}

export interface MigrationPrepareReply {
  port: number;
  nbd?: { port: number; exports: MigrationNbdExport[] };
}

export interface MigrationParameters extends MigrationChannelOptions {
  /** Bytes per second; above QEMU's default 128 MiB/s cap when the network allows. */
  maxBandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  autoConverge: boolean;
  /** XBZRLE page cache; absent or 0: xbzrle off. */
  xbzrleCacheBytes?: number;
}

export interface MigrationStartRequest extends MigrationRef {
  destination: { address: string; port: number; nbd?: { port: number; exports: MigrationNbdExport[] } };
  parameters: MigrationParameters;
}

export type MigrationPhase = 'none' | 'mirroring' | 'setup' | 'active' | 'postcopy-active' | 'completed' | 'failed' | 'cancelled';

export interface MigrationProgress {
  totalBytes: number;
  processedBytes: number;
  remainingBytes: number;
}

export interface MigrationStatusReply {
  phase: MigrationPhase;
  memory: MigrationProgress;
  disk?: MigrationProgress;
  /** The pause of the guest at switchover, once completed. */
  downtimeMs?: number;
  /** Pages per second the guest dirties (QEMU's estimate while active). */
  dirtyPagesRate?: number;
  expectedDowntimeMs?: number;
  error?: string;
}

export interface MigrationAdjustRequest extends MigrationRef {
  downtimeLimitMs?: number;
  /** Force completion: switch to post-copy (ConflictError unless postcopy was allowed at start). */
  startPostcopy?: boolean;
}

export interface MigrationDirtyRateRequest extends MigrationRef {
  /** Measurement time, 1..60 s. */
  seconds: number;
}

export const AgentMigrationOps = {
  prepare: rpc<MigrationPrepareRequest, MigrationPrepareReply>('server.migration-prepare', { timeoutMs: 600_000 }),
  start: rpc<MigrationStartRequest, Record<string, never>>('server.migration-start', { timeoutMs: 1_800_000 }),
  status: rpc<MigrationRef, MigrationStatusReply>('server.migration-status', { timeoutMs: 10_000 }),
  adjust: rpc<MigrationAdjustRequest, Record<string, never>>('server.migration-adjust', { timeoutMs: 10_000 }),
  cancel: rpc<MigrationRef, { cancelled: boolean }>('server.migration-cancel', { timeoutMs: 60_000 }),
  finish: rpc<MigrationRef, Record<string, never>>('server.migration-finish', { timeoutMs: 60_000 }),
  abortDestination: rpc<MigrationRef, { aborted: boolean }>('server.migration-abort-destination', { timeoutMs: 60_000 }),
  cleanupSource: rpc<MigrationRef, { cleaned: boolean }>('server.migration-cleanup-source', { timeoutMs: 60_000 }),
  dirtyRate: rpc<MigrationDirtyRateRequest, { dirtyRateMibPerSec: number }>('server.migration-dirty-rate', { timeoutMs: 90_000 }),
};
