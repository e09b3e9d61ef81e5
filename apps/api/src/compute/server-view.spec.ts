import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { hostIdHash, novaStatus, serverView } from './server-view';

const server = (o: Partial<ServerEntity> = {}): ServerEntity =>
  Object.assign(new ServerEntity(), {
    id: '5f1c2c3e-0000-4000-8000-000000000001',
    projectId: 'p1',
    userId: 'u1',
    name: 'vm',
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
    createdAt: new Date('2026-01-01T00:00:00.123Z'),
    updatedAt: new Date('2026-01-01T00:00:01Z'),
    launchedAt: null,
    deletedAt: null,
    ...o,
  });

describe('serverView', () => {
  it.each([
    [VmState.Building, TaskState.Scheduling, 'BUILD'],
    [VmState.Active, null, 'ACTIVE'],
    [VmState.Active, TaskState.Deleting, 'ACTIVE'],
    [VmState.Stopped, null, 'SHUTOFF'],
    [VmState.Error, null, 'ERROR'],
  ])('%s/%s is %s', (vm, task, status) => expect(novaStatus(vm, task)).toBe(status));

  it('shows the host to admins only', () => {
    expect(serverView(server(), { baseUrl: 'http://x', isAdmin: true })['OS-EXT-SRV-ATTR:host']).toBe('nubo-h1');
    expect(serverView(server(), { baseUrl: 'http://x', isAdmin: false })).not.toHaveProperty('OS-EXT-SRV-ATTR:host');
  });

  it('hides the host name from tenants behind a per-project hash', () => {
    const view = serverView(server(), { baseUrl: 'http://x', isAdmin: false });
    expect(view.hostId).toBe(hostIdHash('p1', 'nubo-h1'));
    expect(view.hostId).not.toContain('h1');
    expect(hostIdHash('p2', 'nubo-h1')).not.toBe(view.hostId);
  });

  it('shows a fault only in ERROR', () => {
    const fault = { code: 500, message: 'No valid host was found.', created: '2026-01-01T00:00:00Z' };
    expect(serverView(server({ vmState: VmState.Error, fault }), { baseUrl: 'x', isAdmin: false }).fault).toEqual(fault);
    expect(serverView(server({ fault }), { baseUrl: 'x', isAdmin: false }).fault).toBeUndefined();
  });

  it.each([
    [VmState.Error, false, true],
    [VmState.Stopped, false, true],
    [VmState.Active, false, false],
    [VmState.Paused, false, false],
    [VmState.Stopped, true, true],
  ])('shows a fault in %s (admin %s): %s, its details to admins only', (vmState, isAdmin, shown) => {
    const fault = { code: 500, message: 'QEMU exited unexpectedly: killed by SIGKILL', created: '2026-01-01T00:00:00Z', details: 'host nubo-h1' };
    const view = serverView(server({ vmState, fault }), { baseUrl: 'x', isAdmin });
    if (!shown) return expect(view).not.toHaveProperty('fault');
    const { details, ...rest } = fault;
    expect(view.fault).toEqual(isAdmin ? { ...rest, details } : rest);
  });

  it('gives Nova power state integers and times without milliseconds', () => {
    const view = serverView(server({ powerState: PowerState.Shutdown }), { baseUrl: 'x', isAdmin: false });
    expect(view['OS-EXT-STS:power_state']).toBe(4);
    expect(view.created).toBe('2026-01-01T00:00:00Z');
  });
});
