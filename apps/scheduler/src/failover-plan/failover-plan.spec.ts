import { HostState, haOf } from '@nubo/contracts';
import { candidate, placementRequest } from '../placement/placement-fixtures';
import { buildPipeline } from '../placement/scheduling-config';
import { schedule } from '../placement/scheduling-pipeline';
import { HaServer, failoverPlan, recoveryOrder } from './failover-plan';

const pipeline = buildPipeline();
const decide = (hosts: Parameters<typeof schedule>[0], request: Parameters<typeof schedule>[1]) => schedule(hosts, request, pipeline);
const ha = (id: string, hostId: string, ramMb: number, priority = 0): HaServer => ({
  hostId,
  name: `vm-${id}`,
  priority,
  request: placementRequest({ serverId: id, ramMb, vcpus: 1, diskGb: 1 }),
});
/** 4 GiB hosts, no overcommit of RAM. */
const host = (id: string, usedRamMb: number, o = {}) => candidate(id, { ramMb: 4096, ramAllocationRatio: 1, usedRamMb, vcpus: 16, diskGb: 100, ...o });

describe('failoverPlan', () => {
  it('places each host\'s HA servers on the others, taking room as it goes', () => {
    const hosts = [host('h1', 3072), host('h2', 1024), host('h3', 2048)];
    const servers = [ha('a', 'h1', 2048), ha('b', 'h1', 1024), ha('c', 'h2', 1024)];
    const plan = failoverPlan(hosts, servers, decide);
    const h1 = plan.find((p) => p.host === 'h1')!;
    expect(h1.capacityOk).toBe(true);
    // a (2 GiB) fits on h2 (3 GiB free) or h3 (2 GiB free); b then fits where room is left: never both over 4 GiB.
    const dest = Object.fromEntries(h1.servers.map((s) => [s.id, s.destination]));
    expect(dest.a).not.toBe('h1');
    expect(dest.b).not.toBe('h1');
    const used = { h2: 1024, h3: 2048 } as Record<string, number>;
    used[dest.a!] += 2048;
    used[dest.b!] += 1024;
    expect(Math.max(...Object.values(used))).toBeLessThanOrEqual(4096);
    expect(plan.find((p) => p.host === 'h3')).toEqual({ host: 'h3', state: HostState.Up, servers: [], capacityOk: true });
  });

  it('fails the N+1 check when the others lack room, naming the filter, and places the higher priority first', () => {
    const hosts = [host('h1', 3072), host('h2', 3072)];
    const servers = [ha('low', 'h1', 1024, 0), ha('high', 'h1', 1024, 10)];
    const [h1] = failoverPlan(hosts, servers, decide);
    expect(h1.capacityOk).toBe(false);
    expect(h1.servers.map((s) => [s.id, s.destination])).toEqual([
      ['high', 'h2'],
      ['low', null],
    ]);
    expect(h1.servers[1].reason).toMatch(/RamFilter/);
  });

  it('never counts a down or disabled host as room', () => {
    const hosts = [host('h1', 1024), host('h2', 0, { state: HostState.Down }), host('h3', 0, { disabled: true })];
    const [h1] = failoverPlan(hosts, [ha('a', 'h1', 512)], decide);
    expect(h1.servers[0]).toMatchObject({ destination: null });
  });

  it('keeps anti-affinity among the members it moves', () => {
    const hosts = [host('h1', 0), host('h2', 0), host('h3', 0)];
    const members = [
      { serverId: 'a', hostId: 'h1' },
      { serverId: 'b', hostId: 'h1' },
      { serverId: 'c', hostId: 'h2' },
    ];
    const group = { id: 'g', policy: 'anti-affinity' as const, members };
    const servers = [{ ...ha('a', 'h1', 256), group }, { ...ha('b', 'h1', 256), group }];
    const [h1] = failoverPlan(hosts, servers, decide);
    // h2 holds c; a takes h3; b has nowhere left (h1 is dead, h2 and h3 hold members).
    expect(h1.servers.map((s) => s.destination)).toEqual(['h3', null]);
    expect(h1.servers[1].reason).toMatch(/AntiAffinity/i);
  });

  it('reads HA and priority from metadata over the flavor', () => {
    expect(haOf({ 'nubo:ha': 'true', 'nubo:ha_priority': '5' }, {})).toEqual({ ha: true, priority: 5 });
    expect(haOf({ 'nubo:ha': 'true' }, { 'nubo:ha': 'false' })).toEqual({ ha: false, priority: 0 });
    expect(haOf({}, { 'nubo:ha': 'True', 'nubo:ha_priority': 'x' })).toEqual({ ha: true, priority: 0 });
  });

  it('orders recovery by priority, then id', () => {
    expect(recoveryOrder([ha('b', 'h', 1, 1), ha('c', 'h', 1, 5), ha('a', 'h', 1, 1)]).map((s) => s.request.serverId)).toEqual(['c', 'a', 'b']);
  });
});
