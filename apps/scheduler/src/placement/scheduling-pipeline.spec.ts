import { HostState } from '@nubo/contracts';
import { candidate, placementRequest } from './placement-fixtures';
import { DEFAULT_SCHEDULING, buildPipeline } from './scheduling-config';
import { Pipeline, hostsToScore, schedule } from './scheduling-pipeline';
import { RamFilter } from './filters/ram.host-filter';
import { ComputeStatusFilter } from './filters/compute-status.host-filter';
import { RamWeigher } from './weighers/ram.weigher';
import { SoftAntiAffinityWeigher } from './weighers/soft-anti-affinity.weigher';
import { HostCandidate, HostWeigher, PlacementRequest } from './placement-types';

const ids = (hosts: HostCandidate[]) => hosts.map((h) => h.id);
const pipeline = (o: Partial<typeof DEFAULT_SCHEDULING> = {}) => buildPipeline({ ...DEFAULT_SCHEDULING, ...o });

describe('schedule', () => {
  const three = () => [candidate('a', { usedRamMb: 4096 }), candidate('b'), candidate('c', { ramMb: 4096 })];

  describe('ranking', () => {
    it.each<[string, HostCandidate[], Partial<typeof DEFAULT_SCHEDULING>, string[]]>([
      ['spreads: most free RAM first, ties by id', three(), {}, ['b', 'a', 'c']],
      ['packs with a negative RAM multiplier', three(), { NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: -1 }, ['a', 'c', 'b']],
      ['ignores RAM with a zero multiplier', three(), { NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: 0 }, ['a', 'b', 'c']],
      [
        'spreads vCPUs',
        [candidate('a', { usedVcpus: 10 }), candidate('b', { usedVcpus: 2 })],
        { NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: 0 },
        ['b', 'a'],
      ],
      ['spreads disk', [candidate('a', { usedDiskGb: 50 }), candidate('b', { usedDiskGb: 60 })], {}, ['a', 'b']],
      [
        'puts a host with recent build failures last, whatever its room',
        [candidate('a', { recentFailures: 1 }), candidate('b', { usedRamMb: 7000, usedVcpus: 15, usedDiskGb: 99 })],
        {},
        ['b', 'a'],
      ],
      [
        'orders hosts by their recent failures',
        [candidate('a', { recentFailures: 3 }), candidate('b', { recentFailures: 1 }), candidate('c')],
        {},
        ['c', 'b', 'a'],
      ],
    ])('%s', (_what, hosts, settings, expected) => {
      expect(ids(schedule(hosts, placementRequest(), pipeline(settings)).ranked)).toEqual(expected);
    });

    it.each<[string, 'soft-affinity' | 'soft-anti-affinity', string[]]>([
      ['soft affinity: the host with the most members first', 'soft-affinity', ['c', 'b', 'a']],
      ['soft anti-affinity: the host with the most members last', 'soft-anti-affinity', ['a', 'b', 'c']],
    ])('%s', (_what, policy, expected) => {
      const hosts = [candidate('a'), candidate('b'), candidate('c')];
      const request = placementRequest({ group: { policy, memberHosts: ['c', 'c', 'b'] } });
      const soft = pipeline({ NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: 0 });
      expect(ids(schedule(hosts, request, soft).ranked)).toEqual(expected);
    });

    it('normalizes each weigher over the candidates, min-max, as Nova does', () => {
      const hosts = [candidate('a', { usedRamMb: 0 }), candidate('b', { usedRamMb: 2048 }), candidate('c', { usedRamMb: 8192 })];
      const { explanation } = schedule(hosts, placementRequest({ ramMb: 0 }), { filters: [], weighers: [new RamWeigher(2)] });
      expect(explanation.weighed).toEqual([
        { host: 'a', total: 2, weights: { RAMWeigher: 2 } },
        { host: 'b', total: 1.5, weights: { RAMWeigher: 1.5 } },
        { host: 'c', total: 0, weights: { RAMWeigher: 0 } },
      ]);
    });

    it('weighs equal hosts 0 (no division by zero)', () => {
      const { explanation } = schedule([candidate('a'), candidate('b')], placementRequest(), { filters: [], weighers: [new RamWeigher(1)] });
      expect(explanation.weighed.map((w) => w.total)).toEqual([0, 0]);
    });

    it('sums the weighers', () => {
      const hosts = [candidate('a', { usedRamMb: 8192 }), candidate('b')];
      const weighers: HostWeigher[] = [new RamWeigher(1), new SoftAntiAffinityWeigher(3)];
      const request = placementRequest({ ramMb: 0, group: { policy: 'soft-anti-affinity', memberHosts: ['b'] } });
      const { ranked, explanation } = schedule(hosts, request, { filters: [], weighers });
      expect(ids(ranked)).toEqual(['a', 'b']);
      expect(explanation.weighed).toEqual([
        { host: 'a', total: 3, weights: { RAMWeigher: 0, ServerGroupSoftAntiAffinityWeigher: 3 } },
        { host: 'b', total: 1, weights: { RAMWeigher: 1, ServerGroupSoftAntiAffinityWeigher: 0 } },
      ]);
    });

    it.each([1, 2, 3, 7, 50])('ranks only the best %i with a limit, as the full ranking does', (limit) => {
      const hosts = Array.from({ length: 40 }, (_, i) => candidate(`h${i}`, { usedRamMb: (i * 7919) % 4000, recentFailures: i % 9 === 0 ? 1 : 0 }));
      const all = ids(schedule(hosts, placementRequest(), pipeline()).ranked);
      const { ranked, explanation } = schedule(hosts, placementRequest(), pipeline(), { limit });
      expect(ids(ranked)).toEqual(all.slice(0, limit));
      expect(explanation.chosen).toBe(all[0]);
      expect(explanation.weighed.length + (explanation.weighedOmitted ?? 0)).toBe(40);
    });

    it('picks at random among the best hostSubsetSize hosts', () => {
      const hosts = [candidate('a'), candidate('b', { usedRamMb: 10 }), candidate('c', { usedRamMb: 20 })];
      const pick = (random: number) => schedule(hosts, placementRequest(), pipeline(), { hostSubsetSize: 2, random: () => random });
      expect(pick(0).explanation.chosen).toBe('a');
      expect(ids(pick(0.99).ranked)).toEqual(['b', 'a', 'c']);
      expect(pick(0.99).explanation.chosen).toBe('b');
    });
  });

  describe('explanation', () => {
    it('lists per filter the hosts it removed, and the weights of the rest', () => {
      const hosts = [candidate('a', { state: HostState.Down }), candidate('b', { usedRamMb: 8000 }), candidate('c'), candidate('d', { usedRamMb: 1024 })];
      const { ranked, explanation } = schedule(hosts, placementRequest({ ramMb: 512 }), pipeline());
      expect(ids(ranked)).toEqual(['c', 'd']);
      expect(explanation.chosen).toBe('c');
      expect(explanation.filters.map((f) => [f.name, f.in, f.removed])).toEqual([
        ['ComputeFilter', 4, { a: 'Compute: host is down' }],
        ['AvailabilityZoneFilter', 3, {}],
        ['ForcedHostFilter', 3, {}],
        ['RetryFilter', 3, {}],
        ['ImagePropertiesFilter', 3, {}],
        ['TraitsFilter', 3, {}],
        ['AggregateInstanceExtraSpecsFilter', 3, {}],
        ['RamFilter', 3, { b: 'RAM: 192 MB free, 512 MB wanted' }],
        ['CoreFilter', 2, {}],
        ['DiskFilter', 2, {}],
        ['NumInstancesFilter', 2, {}],
        ['ServerGroupAntiAffinityFilter', 2, {}],
        ['ServerGroupAffinityFilter', 2, {}],
        ['FailoverReserveFilter', 2, {}],
      ]);
      expect(explanation.weighed).toEqual([
        { host: 'c', total: 1, weights: { RAMWeigher: 1, CPUWeigher: 0, DiskWeigher: 0, ServerGroupSoftAffinityWeigher: 0, ServerGroupSoftAntiAffinityWeigher: 0, BuildFailureWeigher: 0 } },
        { host: 'd', total: 0, weights: { RAMWeigher: 0, CPUWeigher: 0, DiskWeigher: 0, ServerGroupSoftAffinityWeigher: 0, ServerGroupSoftAntiAffinityWeigher: 0, BuildFailureWeigher: 0 } },
      ]);
      expect(explanation.noValidHost).toBeUndefined();
      // It is stored as JSON: nothing in it may be lost on the way.
      expect(JSON.parse(JSON.stringify(explanation))).toEqual(explanation);
    });

    it('lists only the first removed hosts and the best weighed ones, counting the rest', () => {
      const hosts = Array.from({ length: 6 }, (_, i) => candidate(`h${i}`, { usedRamMb: i < 3 ? 8192 : 0 }));
      const { explanation } = schedule(hosts, placementRequest(), { filters: [new RamFilter()], weighers: [] }, { maxRemovedListed: 2, maxWeighedListed: 1 });
      expect(explanation.filters[0]).toEqual({ name: 'RamFilter', in: 6, removed: { h0: expect.any(String), h1: expect.any(String) }, removedOmitted: 1 });
      expect(explanation.weighed.map((w) => w.host)).toEqual(['h3']);
      expect(explanation.weighedOmitted).toBe(2);
    });
  });

  describe('no valid host', () => {
    it('names the filter that removed the last hosts, and stops there', () => {
      const hosts = [candidate('a', { state: HostState.Down }), candidate('b', { usedRamMb: 8000 }), candidate('c', { usedRamMb: 7900 })];
      const { ranked, explanation } = schedule(hosts, placementRequest({ ramMb: 512 }), pipeline());
      expect(ranked).toEqual([]);
      expect(explanation.chosen).toBeNull();
      expect(explanation.filters.map((f) => f.name).at(-1)).toBe('RamFilter');
      expect(explanation.noValidHost).toBe(
        'There are not enough hosts available. Filter RamFilter removed the last 2 host(s): RAM: 192 MB free, 512 MB wanted; RAM: 292 MB free, 512 MB wanted',
      );
    });

    it('says each reason once', () => {
      const hosts = [candidate('a', { state: HostState.Down }), candidate('b', { state: HostState.Down })];
      const { explanation } = schedule(hosts, placementRequest(), { filters: [new ComputeStatusFilter()], weighers: [] });
      expect(explanation.noValidHost).toBe('There are not enough hosts available. Filter ComputeFilter removed the last 2 host(s): Compute: host is down');
    });

    it('says when there is no host at all', () => {
      const { ranked, explanation } = schedule([], placementRequest(), pipeline());
      expect(ranked).toEqual([]);
      expect(explanation).toEqual({ filters: [], weighed: [], chosen: null, noValidHost: 'There are not enough hosts available. There are no hosts to choose from.' });
    });
  });

  describe('filters and weighers that do not apply to a request', () => {
    it('are listed, and not asked per host', () => {
      const reject = jest.fn(() => 'no');
      const weigh = jest.fn(() => 1);
      const idle: Pipeline = {
        filters: [{ name: 'IdleFilter', reject, appliesTo: () => false }],
        weighers: [{ name: 'IdleWeigher', multiplier: 5, weigh, appliesTo: () => false }],
      };
      const { ranked, explanation } = schedule([candidate('a'), candidate('b')], placementRequest(), idle);
      expect(ids(ranked)).toEqual(['a', 'b']);
      expect(reject).not.toHaveBeenCalled();
      expect(weigh).not.toHaveBeenCalled();
      expect(explanation.filters).toEqual([{ name: 'IdleFilter', in: 2, removed: {} }]);
      expect(explanation.weighed[0].weights).toEqual({ IdleWeigher: 0 });
    });

    const hosts = [
      candidate('a', { zone: 'az1', traits: new Set(['CUSTOM_X']), aggregates: [{ id: '1', name: 'g', metadata: { ssd: 'true' } }] }),
      candidate('b', { accelerator: 'tcg', usedRamMb: 1000 }),
      candidate('c', { recentFailures: 1 }),
    ];
    it.each<[string, Partial<PlacementRequest>]>([
      ['a plain request', {}],
      ['a zone', { availabilityZone: 'az1' }],
      ['a forced host', { forcedHost: 'b' }],
      ['excluded hosts', { excludedHosts: ['a'] }],
      ['image properties', { imageProperties: { hypervisor_type: 'kvm' } }],
      ['traits', { extraSpecs: { 'trait:CUSTOM_X': 'forbidden' } }],
      ['aggregate specs', { extraSpecs: { 'aggregate_instance_extra_specs:ssd': 'true' } }],
      ['a hard group', { group: { policy: 'anti-affinity', memberHosts: ['a'] } }],
      ['an affinity group', { group: { policy: 'affinity', memberHosts: ['b'] } }],
      ['a soft group', { group: { policy: 'soft-affinity', memberHosts: ['b', 'b'] } }],
    ])('skip only what would change nothing: %s', (_what, o) => {
      const strip = (p: Pipeline): Pipeline => ({
        filters: p.filters.map((f) => ({ name: f.name, reject: f.reject.bind(f) })),
        weighers: p.weighers.map((w) => ({ name: w.name, multiplier: w.multiplier, weigh: w.weigh.bind(w) })),
      });
      const request = placementRequest(o);
      expect(schedule(hosts, request, pipeline())).toEqual(schedule(hosts, request, strip(pipeline())));
    });
  });

  it('is fast enough for a thousand hosts', () => {
    const hosts = Array.from({ length: 1000 }, (_, i) => candidate(`h${String(i).padStart(4, '0')}`, { usedRamMb: (i * 37) % 8000, recentFailures: i % 50 === 0 ? 1 : 0 }));
    const p: Pipeline = pipeline();
    const started = process.hrtime.bigint();
    for (let i = 0; i < 50; i++) schedule(hosts, placementRequest({ ramMb: 256 }), p);
    const perDecisionMs = Number(process.hrtime.bigint() - started) / 1e6 / 50;
    expect(perDecisionMs).toBeLessThan(20);
  });
  describe('examining part of a large cloud (feasibleTarget)', () => {
    const cloud = (n: number, room: (i: number) => boolean = () => true) =>
      Array.from({ length: n }, (_, i) => candidate(`h${String(i).padStart(3, '0')}`, { usedRamMb: room(i) ? i : 8192 }));
    const ram: Pipeline = { filters: [new RamFilter()], weighers: [new RamWeigher(1)] };

    it('stops once enough hosts passed, from the start it is given, wrapping', () => {
      const { ranked, explanation } = schedule(cloud(200), placementRequest({ ramMb: 512 }), ram, { feasibleTarget: 100, start: 150 });
      expect(ranked).toHaveLength(100);
      expect(new Set(ids(ranked))).toEqual(new Set([...cloud(200).slice(150), ...cloud(200).slice(0, 50)].map((h) => h.id)));
      expect(ranked[0].id).toBe('h000'); // the best of those examined (least used RAM)
      expect(explanation).toMatchObject({ notExamined: 100, filters: [{ name: 'RamFilter', in: 100, removed: {} }] });
    });

    it('examines further windows while too few hosts pass', () => {
      const { ranked, explanation } = schedule(cloud(300, (i) => i % 4 === 0), placementRequest({ ramMb: 512 }), ram, { feasibleTarget: 60 });
      expect(ranked).toHaveLength(64); // windows of 64 hosts at least: 16 + 16 + 16 + 16 passed
      expect(explanation.filters[0].in).toBe(256);
      expect(explanation.notExamined).toBe(44);
    });

    it('says "no valid host" only after examining every host', () => {
      const { ranked, explanation } = schedule(cloud(300, () => false), placementRequest({ ramMb: 512 }), ram, { feasibleTarget: 100, start: 7 });
      expect(ranked).toEqual([]);
      expect(explanation.notExamined).toBeUndefined();
      expect(explanation.noValidHost).toMatch(/^There are not enough hosts available\. Filter RamFilter removed the last 300 host\(s\): RAM: /);
    });
  });
});

describe('hostsToScore', () => {
  it.each([
    [50, 0, 50],
    [1000, 0, 420],
    [10_000, 0, 500],
    [1000, 100, 1000],
    [1000, 10, 100],
    [1000, 30, 300],
  ])('%i hosts at %i%%: %i', (hosts, percent, expected) => {
    expect(hostsToScore(hosts, percent)).toBe(expected);
  });
});
