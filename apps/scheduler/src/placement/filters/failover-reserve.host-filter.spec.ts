import { HostState } from '@nubo/contracts';
import { candidate, placementRequest } from '../placement-fixtures';
import { HostCandidate } from '../placement-types';
import { freeOf } from '../capacity';
import { FailoverReserveFilter } from './failover-reserve.host-filter';

const reserve = { id: '1', name: 'rack1', metadata: { 'nubo:failover_reserve': 'true' } };
const plain = { id: '2', name: 'plain', metadata: { ssd: 'true' } };
const off = { id: '3', name: 'off', metadata: { 'nubo:failover_reserve': 'false' } };

/** Three 4096 MB / 4 vCPU (x4) hosts, with `used` MB and `vcpus` vCPUs used each. */
function rack(used: number[], o: { aggregates?: HostCandidate['aggregates']; vcpus?: number[]; state?: HostState[] } = {}): HostCandidate[] {
  return used.map((usedRamMb, i) =>
    candidate(`h${i + 1}`, {
      ramMb: 4096,
      vcpus: 4,
      cpuAllocationRatio: 4,
      usedRamMb,
      usedVcpus: o.vcpus?.[i] ?? 0,
      state: o.state?.[i] ?? HostState.Up,
      aggregates: o.aggregates ?? [reserve],
    }),
  );
}

describe(FailoverReserveFilter.name, () => {
  const ram = 'MB RAM';
  it.each<[string, HostCandidate[], string, { ramMb?: number; vcpus?: number }, string | null]>([
    ['no aggregate with the policy', rack([4096, 4096, 3072], { aggregates: [plain] }), 'h3', {}, null],
    ['the policy set to false', rack([4096, 4096, 3072], { aggregates: [off] }), 'h3', {}, null],
    ['an empty aggregate', rack([0, 0, 0]), 'h1', {}, null],
    ['filling up to N-1 hosts worth (8192 of 12288 MB)', rack([3072, 3072, 1024]), 'h3', {}, null],
    ['the same total, placed on the fullest host', rack([3072, 3072, 1024]), 'h1', {}, null],
    [
      'one MB past N-1 hosts worth',
      rack([4096, 3072, 1024]),
      'h3',
      { ramMb: 1 },
      `FailoverReserve: aggregate rack1 keeps room to restart the servers of its largest host on the others: after this placement that host would hold 4096 ${ram}, the others would have 4095 ${ram} free`,
    ],
    [
      'a full aggregate',
      rack([4096, 4096, 0]),
      'h3',
      { ramMb: 512 },
      `FailoverReserve: aggregate rack1 keeps room to restart the servers of its largest host on the others: after this placement that host would hold 4096 ${ram}, the others would have 3584 ${ram} free`,
    ],
    ['a down member counts what it holds, not its room', rack([2048, 0, 0], { state: [HostState.Down] }), 'h2', {}, null],
    [
      'a down member leaves less room',
      rack([2048, 3072, 3072], { state: [HostState.Down] }),
      'h2',
      {},
      `FailoverReserve: aggregate rack1 keeps room to restart the servers of its largest host on the others: after this placement that host would hold 4096 ${ram}, the others would have 1024 ${ram} free`,
    ],
    [
      'vCPUs are reserved too',
      rack([0, 0, 0], { vcpus: [16, 16, 0] }),
      'h3',
      { vcpus: 1, ramMb: 1 },
      'FailoverReserve: aggregate rack1 keeps room to restart the servers of its largest host on the others: after this placement that host would hold 16 vCPUs, the others would have 15 vCPUs free',
    ],
    ['only the policy aggregate counts', rack([3072, 3072, 1024], { aggregates: [plain, reserve] }), 'h3', {}, null],
  ])('%s', (_what, hosts, on, want, expected) => {
    const host = hosts.find((h) => h.id === on)!;
    const request = placementRequest({ ramMb: want.ramMb ?? 1024, vcpus: want.vcpus ?? 1 });
    expect(new FailoverReserveFilter().reject(host, request, { allHosts: hosts })).toBe(expected);
  });

  it('holds for every placement it lets through, however the aggregate is filled', () => {
    // Fill three hosts with 512 MB servers wherever allowed: N+1 must stop at 2 hosts' worth.
    const hosts = rack([0, 0, 0]);
    const filter = new FailoverReserveFilter();
    const request = placementRequest({ ramMb: 512, vcpus: 1 });
    for (let placed = true; placed; ) {
      placed = false;
      for (const h of hosts) {
        if (h.usedRamMb + 512 > 4096) continue;
        if (filter.reject(h, request, { allHosts: hosts.map((x) => ({ ...x })) }) === null) {
          h.usedRamMb += 512;
          placed = true;
        }
      }
    }
    expect(hosts.reduce((sum, h) => sum + h.usedRamMb, 0)).toBe(8192);
    for (const x of hosts) {
      const othersFree = hosts.filter((y) => y !== x).reduce((sum, y) => sum + 4096 - y.usedRamMb, 0);
      expect(x.usedRamMb).toBeLessThanOrEqual(othersFree);
    }
  });
  it('agrees with the rule itself on random aggregates (sizes, reserved memory, ratios, down members)', () => {
    // A seeded generator, so a failure names a case that can be replayed.
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const filter = new FailoverReserveFilter();
    for (let round = 0; round < 5000; round++) {
      const hosts = Array.from({ length: 2 + rand(3) }, (_, i) =>
        candidate(`h${i + 1}`, {
          ramMb: 2048 * (1 + rand(3)),
          reservedRamMb: [0, 512][rand(2)],
          ramAllocationRatio: [1, 1.5][rand(2)],
          vcpus: 4,
          cpuAllocationRatio: 4,
          usedRamMb: 512 * rand(8),
          usedVcpus: rand(6),
          state: rand(6) === 0 ? HostState.Down : HostState.Up,
          aggregates: [reserve],
        }),
      );
      const on = hosts[rand(hosts.length)];
      const request = placementRequest({ ramMb: 512 * (1 + rand(4)), vcpus: 1 });
      if (on.state !== HostState.Up || freeOf(on).ramMb < request.ramMb || freeOf(on).vcpus < request.vcpus) continue;
      const after = hosts.map((h) => (h === on ? { ...h, usedRamMb: h.usedRamMb + request.ramMb, usedVcpus: h.usedVcpus + request.vcpus } : h));
      const holds = (['ramMb', 'vcpus'] as const).every((key) =>
        after.every((x) => {
          const used = key === 'ramMb' ? x.usedRamMb : x.usedVcpus;
          const othersFree = after.filter((y) => y !== x && y.state === HostState.Up).reduce((sum, y) => sum + Math.max(0, freeOf(y)[key]), 0);
          return used <= othersFree;
        }),
      );
      const verdict = filter.reject(on, request, { allHosts: hosts });
      expect({ round, hosts: hosts.map((h) => [h.ramMb, h.reservedRamMb, h.usedRamMb, h.state]), on: on.id, admitted: verdict === null }).toEqual({
        round,
        hosts: hosts.map((h) => [h.ramMb, h.reservedRamMb, h.usedRamMb, h.state]),
        on: on.id,
        admitted: holds,
      });
    }
  });
  it.each([
    ['no aggregate with the policy', rack([0, 0], { aggregates: [plain, off] }), false],
    ['an aggregate with the policy', rack([0, 0], { aggregates: [plain, reserve] }), true],
  ])('applies only to lists with a policy aggregate: %s', (_what, hosts, applies) => {
    expect(new FailoverReserveFilter().appliesTo(placementRequest(), { allHosts: hosts })).toBe(applies);
  });
});
