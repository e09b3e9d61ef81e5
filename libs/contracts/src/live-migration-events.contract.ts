/**
 * Live migration progress, published by the scheduler on `server.<serverId>.migration` (core NATS,
 * at most once: for watchers such as dashboards and tests; the migration record stays the truth)
 * at every status poll of a running migration and on every status change, the final one included.
 * v1.
 */
import { MigrationPhase, MigrationProgress } from './live-migration.contract';
import { event } from './rpc';

/** Nova's live-migration statuses, as the migration record holds them. */
export type LiveMigrationEventStatus = 'queued' | 'preparing' | 'running' | 'post-migrating' | 'completed' | 'error' | 'cancelled';

export interface MigrationProgressEvent {
  /** The migration's uuid (Nova's migration `uuid`). */
  migrationId: string;
  /** Nova's integer migration id (what the API and the CLI show). */
  migrationNumber: number;
  serverId: string;
  status: LiveMigrationEventStatus;
  /** The source QEMU's migration phase at the last poll (null before the first). */
  phase: MigrationPhase | null;
  sourceHost: string;
  destHost: string | null;
  /** RAM bytes (zeros before the first poll). */
  memory: MigrationProgress;
  /** Disk bytes of a block migration (null without disks or before the first poll). */
  disk: MigrationProgress | null;
  /** Why it ended, for error and cancelled. */
  outcome?: string;
  /** When the scheduler published it (ISO 8601). */
  at: string;
}

export const ServerMigrationProgress = event<MigrationProgressEvent>('server.migration');
