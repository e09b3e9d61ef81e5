import { PowerState, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { rebuildServerView } from './server-rebuild-view';
import { hostStatusOf } from './server-host-status';
import { sanitizeHostname, serverView } from './server-view';

const server = (o: Partial<ServerEntity> = {}): ServerEntity =>
  Object.assign(new ServerEntity(), {
    id: '5f1c2c3e-0000-4000-8000-000000000001',
    projectId: 'p1',
    userId: 'u1',
    name: 'My VM_1',
    flavorId: '1',
    flavor: { vcpus: 1, ramMb: 512, diskGb: 1, name: 'm1.tiny' },
    imageRef: null,
    vmState: VmState.Active,
    taskState: null,
    powerState: PowerState.Running,
    hostId: 'nubo-h1',
    fault: null,
    metadata: {},
    keyName: null,
    requestId: 'req-1',
    createdAt: new Date('2026-01-01T00:00:00Z'),
    updatedAt: new Date('2026-01-01T00:00:01Z'),
    launchedAt: null,
    deletedAt: null,
    description: 'web tier',
    tags: ['a', 'b'],
    ...o,
  });

const view = (version: string, isAdmin = true, hostStatus?: string) => serverView(server(), { baseUrl: 'http://x', isAdmin, version, hostStatus });

describe('serverView by microversion', () => {
  it.each([
    // [key, first version that has it, admins only]
    ['OS-EXT-SRV-ATTR:reservation_id', '2.3', true],
    ['OS-EXT-SRV-ATTR:hostname', '2.3', true],
    ['OS-EXT-SRV-ATTR:root_device_name', '2.3', true],
    ['OS-EXT-SRV-ATTR:user_data', '2.3', true],
    ['locked', '2.9', false],
    ['host_status', '2.16', true],
    ['description', '2.19', false],
    ['tags', '2.26', false],
  ])('%s appears at %s', (key, from, adminOnly) => {
    const [major, minor] = from.split('.').map(Number);
    expect(view(`${major}.${minor - 1}`)).not.toHaveProperty([key]);
    expect(view(from)).toHaveProperty([key]);
    expect(view('2.30')).toHaveProperty([key]);
    if (adminOnly) expect(view('2.30', false)).not.toHaveProperty([key]);
    else expect(view('2.30', false)).toHaveProperty([key]);
  });

  it('has no later key at 2.1 (the CLI default)', () => {
    const v = view('2.1');
    for (const key of ['locked', 'description', 'tags', 'host_status', 'OS-EXT-SRV-ATTR:hostname']) expect(v).not.toHaveProperty([key]);
  });

  it('shows the values', () => {
    expect(view('2.30', true, 'MAINTENANCE')).toMatchObject({
      locked: false,
      description: 'web tier',
      tags: ['a', 'b'],
      host_status: 'MAINTENANCE',
      'OS-EXT-SRV-ATTR:hostname': 'my-vm-1',
      'OS-EXT-SRV-ATTR:reservation_id': 'r-5f1c2c3e',
      'OS-EXT-SRV-ATTR:launch_index': 0,
    });
    expect(serverView(server({ description: null, tags: [] }), { baseUrl: 'x', isAdmin: false, version: '2.26' })).toMatchObject({ description: null, tags: [] });
  });

  it('rebuild answers locked, description and tags from their versions', () => {
    expect(rebuildServerView(server(), 'x', 'pw', {}, '2.1')).not.toHaveProperty('locked');
    expect(rebuildServerView(server(), 'x', 'pw', {}, '2.26')).toMatchObject({ locked: false, description: 'web tier', tags: ['a', 'b'], adminPass: 'pw' });
  });
});

describe('sanitizeHostname', () => {
  it.each([
    ['My VM_1', 'my-vm-1'],
    ['..web.', 'web'],
    ['ünï', 'n'],
    ['!!!', 'server'],
  ])('%s -> %s', (name, host) => expect(sanitizeHostname(name)).toBe(host));
});

describe('hostStatusOf', () => {
  const now = new Date('2026-01-01T00:01:00Z');
  const fresh = new Date('2026-01-01T00:00:50Z');
  it.each([
    ['up', { state: 'up', lastHeartbeatAt: fresh, disabledReason: null }, 'UP'],
    ['disabled', { state: 'disabled', lastHeartbeatAt: fresh, disabledReason: 'x' }, 'MAINTENANCE'],
    ['maintenance', { state: 'maintenance', lastHeartbeatAt: fresh, disabledReason: null }, 'MAINTENANCE'],
    ['down', { state: 'down', lastHeartbeatAt: fresh, disabledReason: null }, 'DOWN'],
    ['forced down', { state: 'up', lastHeartbeatAt: fresh, disabledReason: null, forcedDown: true }, 'DOWN'],
    ['unknown host', undefined, 'UNKNOWN'],
  ])('%s', (_n, host, expected) => expect(hostStatusOf(host, now)).toBe(expected));
});
