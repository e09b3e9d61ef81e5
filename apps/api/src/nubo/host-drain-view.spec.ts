import { DrainServerRow, drainServerView, drainView } from './host-drain-view';

const row = (o: Partial<DrainServerRow>): DrainServerRow => ({
  server_id: 's1',
  migration_uuid: null,
  migration_number: null,
  migration_status: null,
  outcome: null,
  error: null,
  server_host: 'h1',
  server_status_vm: 'active',
  ...o,
});

describe('drainServerView', () => {
  it.each([
    ['a running migration', row({ migration_uuid: 'm', migration_number: '7', migration_status: 'running' }), { migration_id: 7, status: 'running', error: null }],
    ['a completed one', row({ migration_uuid: 'm', migration_number: 8, migration_status: 'completed', server_host: 'h2' }), { status: 'completed', error: null, host: 'h2' }],
    ['a failed one names its outcome', row({ migration_uuid: 'm', migration_number: 9, migration_status: 'error', outcome: 'boom' }), { status: 'error', error: 'boom' }],
    ['an aborted one without outcome', row({ migration_uuid: 'm', migration_number: 9, migration_status: 'cancelled' }), { status: 'cancelled', error: 'cancelled' }],
    ['one that could not start', row({ error: "Cannot 'os-migrateLive' instance s1 while it is in vm_state stopped" }), { migration_id: null, status: 'not-started', error: expect.stringContaining('stopped') }],
  ])('%s', (_name, r, expected) => expect(drainServerView(r)).toMatchObject(expected));
});

describe('drainView', () => {
  const d = { id: 'd', host_id: 'h1', created_at: new Date(0), undrained_at: null };

  it('is done when nothing is in flight', () => {
    const v = drainView(d, 'maintenance', [row({ migration_number: 1, migration_status: 'completed' }), row({ error: 'x' })], 1);
    expect(v.drain).toMatchObject({ done: true, host_state: 'maintenance', remaining_servers: 1 });
  });

  it.each(['queued', 'preparing', 'running', 'post-migrating'])('is not done while one is %s', (status) => {
    expect(drainView(d, 'maintenance', [row({ migration_number: 1, migration_status: status })], 1).drain.done).toBe(false);
  });
});
