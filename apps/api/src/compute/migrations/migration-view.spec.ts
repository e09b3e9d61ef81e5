import { TaskState, VmState } from '@nubo/contracts';
import { LiveMigrationRecord } from '@nubo/database';
import { novaStatus } from '../server-view';
import { MigrationRow, osMigrationView, serverMigrationView } from './migration-view';

const at = new Date('2026-11-26T03:00:00.123Z');
const row: MigrationRow = {
  id: 'a1b2', number: 7, serverId: 's1', projectId: 'p', userId: 'u', migrationType: 'live-migration', status: 'running',
  sourceHost: 'h1', destHost: 'h2', destAddress: '10.77.0.12', oldFlavorId: '42', newFlavorId: '42', createdAt: at, updatedAt: at,
};

describe('osMigrationView', () => {
  it('is Nova 2.1 shaped: integer id and flavor ids, compute and node named by host, no type or links', () => {
    expect(osMigrationView(row, { baseUrl: 'http://x', version23: false })).toEqual({
      id: 7, status: 'running', instance_uuid: 's1', source_compute: 'h1', source_node: 'h1', dest_compute: 'h2', dest_node: 'h2',
      dest_host: '10.77.0.12', old_instance_type_id: 42, new_instance_type_id: 42,
      created_at: '2026-11-26T03:00:00.123000', updated_at: '2026-11-26T03:00:00.123000',
    });
  });

  it('adds migration_type and, for a live migration in progress, links at 2.23', () => {
    const view = osMigrationView(row, { baseUrl: 'http://x', version23: true });
    expect(view.migration_type).toBe('live-migration');
    expect(view.links).toEqual([
      { rel: 'self', href: 'http://x/compute/v2.1/servers/s1/migrations/7' },
      { rel: 'bookmark', href: 'http://x/compute/servers/s1/migrations/7' },
    ]);
  });

  it.each([
    ['a completed live migration', { status: 'completed' }],
    ['a resize', { migrationType: 'resize', status: 'migrating' }],
  ])('has no links for %s', (_what, o) => {
    expect(osMigrationView({ ...row, ...o }, { baseUrl: 'http://x', version23: true }).links).toBeUndefined();
  });

  it('keeps a non-numeric flavor id as a string', () => {
    expect(osMigrationView({ ...row, oldFlavorId: 'abc' }, { baseUrl: '', version23: false }).old_instance_type_id).toBe('abc');
  });
});

describe('serverMigrationView', () => {
  const record: LiveMigrationRecord = {
    id: 'a1b2', number: 7, serverId: 's1', projectId: 'p', userId: 'u', status: 'running', sourceHost: 'h1', destHost: 'h2',
    requestedHost: null, forceDestination: false, blockMigration: true, flavorId: '42', flavor: { vcpus: 1, ramMb: 64, diskGb: 1, name: 'nano' },
    oldVmState: VmState.Active, requestId: 'r', live: {}, abortRequestedAt: null, forceCompleteRequestedAt: null, createdAt: at, updatedAt: at,
    progress: {
      phase: 'active', at: at.toISOString(),
      memory: { totalBytes: 100, processedBytes: 40, remainingBytes: 60 },
      disk: { totalBytes: 1000, processedBytes: 1000, remainingBytes: 0 },
    },
  };

  it('shows the memory and disk counters', () => {
    expect(serverMigrationView(record, '10.0.0.2')).toMatchObject({
      id: 7, server_uuid: 's1', status: 'running', dest_host: '10.0.0.2',
      memory_total_bytes: 100, memory_processed_bytes: 40, memory_remaining_bytes: 60,
      disk_total_bytes: 1000, disk_processed_bytes: 1000, disk_remaining_bytes: 0,
    });
  });

  it('answers zeros before the agent reports', () => {
    const view = serverMigrationView({ ...record, progress: null, destHost: null }, null);
    expect(view).toMatchObject({ memory_total_bytes: 0, disk_remaining_bytes: 0, dest_compute: null, dest_host: null });
  });
});

describe('novaStatus while live-migrating', () => {
  it.each([
    [VmState.Active, 'MIGRATING'],
    [VmState.Paused, 'MIGRATING'],
  ])('%s + migrating -> %s', (vmState, status) => {
    expect(novaStatus(vmState, TaskState.Migrating)).toBe(status);
  });
});
