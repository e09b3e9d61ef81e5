import { LiveMigrationProgress, LiveMigrationRecord } from '@nubo/database';
import { migrationEventOf } from './live-migration-events';

const record = (live: LiveMigrationRecord['live'] = {}, destHost: string | null = 'h2') =>
  ({ id: 'mig-uuid', number: 7, serverId: 'srv', sourceHost: 'h1', destHost, live, status: 'running' }) as LiveMigrationRecord;
const at = new Date('2026-01-02T03:04:05.000Z');
const bytes = (total: number, processed: number) => ({ totalBytes: total, processedBytes: processed, remainingBytes: total - processed });

describe('migrationEventOf', () => {
  it.each<{ name: string; m: LiveMigrationRecord; status: Parameters<typeof migrationEventOf>[1]; progress: LiveMigrationProgress | null; want: object }>([
    {
      name: 'before the first poll: zero bytes, no phase, no disk',
      m: record({}, null),
      status: 'preparing',
      progress: null,
      want: { status: 'preparing', phase: null, destHost: null, memory: bytes(0, 0), disk: null },
    },
    {
      name: 'a poll of a block migration: memory and disk as reported',
      m: record(),
      status: 'running',
      progress: { phase: 'active', memory: bytes(1000, 400), disk: bytes(5000, 5000), at: 'x' },
      want: { status: 'running', phase: 'active', memory: bytes(1000, 400), disk: bytes(5000, 5000) },
    },
    {
      name: 'RAM only: disk null',
      m: record(),
      status: 'running',
      progress: { phase: 'setup', memory: bytes(1000, 0), at: 'x' },
      want: { phase: 'setup', memory: bytes(1000, 0), disk: null },
    },
    {
      name: 'the final event keeps the last progress',
      m: record({ outcome: 'ignored when completed' }),
      status: 'completed',
      progress: { phase: 'completed', memory: bytes(1000, 1000), at: 'x' },
      want: { status: 'completed', phase: 'completed', memory: bytes(1000, 1000) },
    },
    {
      name: 'a failure says why',
      m: record({ outcome: 'stalled: nothing transferred for 15000 ms' }),
      status: 'error',
      progress: { phase: 'active', memory: bytes(1000, 10), at: 'x' },
      want: { status: 'error', outcome: 'stalled: nothing transferred for 15000 ms' },
    },
  ])('$name', ({ m, status, progress, want }) => {
    const event = migrationEventOf(m, status, progress, at);
    expect(event).toMatchObject({ migrationId: 'mig-uuid', migrationNumber: 7, serverId: 'srv', sourceHost: 'h1', at: '2026-01-02T03:04:05.000Z', ...want });
    if (status === 'completed') expect(event).not.toHaveProperty('outcome');
  });

  it('copies only the byte counts (nothing else from the agent reply leaks out)', () => {
    const progress = { phase: 'active', memory: { ...bytes(10, 5), extra: 1 }, at: 'x' } as unknown as LiveMigrationProgress;
    expect(migrationEventOf(record(), 'running', progress, at).memory).toEqual(bytes(10, 5));
  });
});
