import { HostUsage, rankHosts } from './host-ranking';

const host = (id: string, o: Partial<HostUsage> = {}): HostUsage => ({
  id,
  generation: '0',
  vcpus: 4,
  ramMb: 8192,
  diskGb: 100,
  cpuAllocationRatio: 4,
  ramAllocationRatio: 1,
  diskAllocationRatio: 1,
  usedVcpus: 0,
  usedRamMb: 0,
  usedDiskGb: 0,
  ...o,
});

describe('rankHosts', () => {
  const req = { vcpus: 1, ramMb: 512, diskGb: 1 };

  it.each([
    ['most free RAM first', [host('a', { usedRamMb: 4096 }), host('b'), host('c', { ramMb: 4096 })], ['b', 'a', 'c']],
    ['ties broken by id', [host('b'), host('a')], ['a', 'b']],
    ['allocation ratio counts', [host('a', { ramMb: 1024, ramAllocationRatio: 2, usedRamMb: 1800 })], []],
    ['vCPU overcommit within ratio', [host('a', { vcpus: 1, usedVcpus: 3 })], ['a']],
    ['vCPU beyond ratio', [host('a', { vcpus: 1, usedVcpus: 4 })], []],
    ['disk full', [host('a', { usedDiskGb: 100 })], []],
    ['exact fit', [host('a', { ramMb: 512 })], ['a']],
  ])('%s', (_what, hosts, expected) => {
    expect(rankHosts(hosts, req).ranked.map((h) => h.id)).toEqual(expected);
  });

  it.each([
    ['anti-affinity avoids members', { policy: 'anti-affinity' as const, memberHosts: ['b'] }, ['a', 'c']],
    ['affinity sticks to members', { policy: 'affinity' as const, memberHosts: ['c'] }, ['c']],
    ['affinity with no member yet is free', { policy: 'affinity' as const, memberHosts: [] }, ['b', 'a', 'c']],
    ['soft anti-affinity ranks members last', { policy: 'soft-anti-affinity' as const, memberHosts: ['b'] }, ['a', 'c', 'b']],
    ['soft affinity ranks members first', { policy: 'soft-affinity' as const, memberHosts: ['c'] }, ['c', 'b', 'a']],
  ])('%s', (_what, group, expected) => {
    const hosts = [host('a', { usedRamMb: 1024 }), host('b'), host('c', { ramMb: 4096 })];
    expect(rankHosts(hosts, req, group).ranked.map((h) => h.id)).toEqual(expected);
  });

  it('says why each rejected host was rejected', () => {
    const { rejected } = rankHosts([host('a', { usedRamMb: 8000 }), host('b', { vcpus: 1, usedVcpus: 4 })], req);
    expect(rejected.a).toMatch(/^RAM: 192 MB free, 512 MB wanted/);
    expect(rejected.b).toMatch(/^VCPU: 0 free/);
  });
});
