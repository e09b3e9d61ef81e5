/**
 * The progress event of a live migration (pure): what `server.<id>.migration` carries, from the
 * migration record, the status it has now and the last progress the source reported.
 */
import { LiveMigrationEventStatus, MigrationPhase, MigrationProgressEvent } from '@nubo/contracts';
import { LiveMigrationProgress, LiveMigrationRecord } from '@nubo/database';

const NONE = { totalBytes: 0, processedBytes: 0, remainingBytes: 0 };
const ENDED = new Set<LiveMigrationEventStatus>(['error', 'cancelled']);

export function migrationEventOf(
  m: Pick<LiveMigrationRecord, 'id' | 'number' | 'serverId' | 'sourceHost' | 'destHost' | 'live'>,
  status: LiveMigrationEventStatus,
  progress: LiveMigrationProgress | null | undefined,
  at: Date,
): MigrationProgressEvent {
  const bytes = (b: { totalBytes: number; processedBytes: number; remainingBytes: number }) => ({
    totalBytes: b.totalBytes,
    processedBytes: b.processedBytes,
    remainingBytes: b.remainingBytes,
  });
  return {
    migrationId: m.id,
    migrationNumber: m.number,
    serverId: m.serverId,
    status,
    phase: (progress?.phase as MigrationPhase | undefined) ?? null,
    sourceHost: m.sourceHost,
    destHost: m.destHost,
    memory: bytes(progress?.memory ?? NONE),
    disk: progress?.disk ? bytes(progress.disk) : null,
    ...(ENDED.has(status) && m.live.outcome ? { outcome: m.live.outcome } : {}),
    at: at.toISOString(),
  };
}
