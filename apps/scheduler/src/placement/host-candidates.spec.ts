import { HostCandidates } from './host-candidates';

/** The hosts, aggregate memberships and traits tables in memory, and how many host loads were asked. */
function fakeDb() {
  const rows = new Map<string, Record<string, unknown>>();
  const memberships: Array<Record<string, unknown>> = [];
  const traits: Array<{ host_id: string; trait: string }> = [];
  const state = { queries: 0, pending: [] as Array<() => void>, hold: false };
  const row = (id: string, o: Record<string, unknown> = {}) => ({
    id, generation: '1', state: 'up', accelerator: 'kvm', vcpus: 8, ram_mb: 8192, disk_gb: 100, reserved_vcpus: 0, reserved_ram_mb: 0,
    reserved_disk_gb: 0, cpu_allocation_ratio: 4, ram_allocation_ratio: 1, disk_allocation_ratio: 1, used_vcpus: 0, used_ram_mb: 0,
    used_disk_gb: 0, instances: 0, recent_failures: 0, ...o,
  });
  const only = <T extends Record<string, unknown>>(list: T[], key: string, params?: unknown[]) => (params?.length ? list.filter((r) => r[key] === params[0]) : list);
  const db = {
    async query(sql: string, params?: unknown[]): Promise<any> {
      let result: unknown[];
      if (sql.includes('compute.aggregate_hosts')) result = only(memberships, 'host_id', params);
      else if (sql.includes('compute.host_traits')) result = only(traits, 'host_id', params);
      else {
        state.queries++;
        result = only([...rows.values()], 'id', params);
        if (state.hold) {
          const copy = result.map((r) => ({ ...(r as object) }));
          await new Promise<void>((resolve) => state.pending.push(resolve));
          return copy;
        }
      }
      return result.map((r) => ({ ...(r as object) }));
    },
  };
  return { db, rows, memberships, traits, state, set: (id: string, o: Record<string, unknown> = {}) => rows.set(id, row(id, o)) };
}

const usage = (generation: string, usedRamMb: number) => ({ generation, used_vcpus: 1, used_ram_mb: usedRamMb, used_disk_gb: 1, instances: 1 });

describe(HostCandidates.name, () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000));

  describe('get', () => {
    it('serves one load for the TTL, then loads again', async () => {
      const { db, set, state } = fakeDb();
      set('a');
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      now += 249;
      await hosts.get();
      expect(state.queries).toBe(1);
      now += 1000;
      await hosts.get();
      expect(state.queries).toBe(2);
    });

    it('shares one load between concurrent callers, and answers from the cache past the TTL while it runs', async () => {
      const { db, set, state } = fakeDb();
      set('a', { used_ram_mb: 100 });
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      set('a', { used_ram_mb: 200, generation: '2' });
      now += 300;
      state.hold = true;
      const [first, second] = await Promise.all([hosts.get(), hosts.get()]);
      expect([first[0].usedRamMb, second[0].usedRamMb]).toEqual([100, 100]);
      expect(state.queries).toBe(2);
      state.pending.forEach((resolve) => resolve());
      state.hold = false;
      await new Promise((resolve) => setImmediate(resolve));
      expect((await hosts.get())[0].usedRamMb).toBe(200);
      expect(state.queries).toBe(2);
    });

    it('waits for the load when the cache is older than 4 TTLs, and always when asked for fresh numbers', async () => {
      const { db, set, state } = fakeDb();
      set('a');
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      set('a', { used_ram_mb: 300, generation: '2' });
      await expect(hosts.get({ fresh: true })).resolves.toMatchObject([{ usedRamMb: 300 }]);
      set('a', { used_ram_mb: 400, generation: '3' });
      now += 1000;
      await expect(hosts.get()).resolves.toMatchObject([{ usedRamMb: 400 }]);
      expect(state.queries).toBe(3);
    });

    it('maps rows to candidates: reserved amounts, disabled state, traits as a set, aggregates and the first zone', async () => {
      const { db, set, memberships, traits } = fakeDb();
      set('a', { state: 'disabled', reserved_ram_mb: 512, cpu_allocation_ratio: 1.5 });
      set('b');
      traits.push({ host_id: 'a', trait: 'HW_CPU_X86_AVX2' });
      memberships.push(
        { host_id: 'a', id: '3', name: 'fast', metadata: { ssd: 'true' }, availability_zone: null },
        { host_id: 'a', id: '5', name: 'east', metadata: {}, availability_zone: 'az-east' },
        { host_id: 'a', id: '7', name: 'west', metadata: {}, availability_zone: 'az-west' },
      );
      const [a, b] = await new HostCandidates(db, { ttlMs: 250 }).get();
      expect(a).toMatchObject({ id: 'a', disabled: true, reservedRamMb: 512, cpuAllocationRatio: 1.5, zone: 'az-east' });
      expect(a.aggregates.map((g) => g.name)).toEqual(['fast', 'east', 'west']);
      expect([...a.traits]).toEqual(['HW_CPU_X86_AVX2']);
      expect(b).toMatchObject({ zone: 'nova', aggregates: [], disabled: false });
      expect(b.traits.size).toBe(0);
    });
  });

  describe('reload between full loads', () => {
    it('reads only counters, state and failures until the metadata version moves, then everything again', async () => {
      const { db, set, traits, rows } = fakeDb();
      set('a', { used_ram_mb: 100, metadata_version: '7' });
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      const first = await hosts.get();
      expect(hosts.metadataVersion(first)).toBe('7');
      set('a', { used_ram_mb: 300, generation: '2', state: 'disabled', recent_failures: 2, ram_mb: 4096, metadata_version: '7' });
      traits.push({ host_id: 'a', trait: 'CUSTOM_NEW' }); // not seen: the version says nothing changed
      now += 1_100; // past 4 TTLs: the caller waits for the reload
      const [a] = await hosts.get();
      expect(a).toMatchObject({ usedRamMb: 300, disabled: true, recentFailures: 2, ramMb: 8192 });
      expect(a.traits.size).toBe(0);
      expect([hosts.loads, hosts.fullLoads]).toEqual([2, 1]);
      rows.get('a')!.metadata_version = '8';
      now += 1_100;
      const second = await hosts.get();
      expect([...second[0].traits]).toEqual(['CUSTOM_NEW']);
      expect(second[0].ramMb).toBe(4096);
      expect(hosts.metadataVersion(second)).toBe('8');
      expect(hosts.metadataVersion(first)).toBe('7');
      expect([hosts.loads, hosts.fullLoads]).toEqual([3, 2]);
    });

    it('loads everything when a host appeared or went', async () => {
      const { db, set } = fakeDb();
      set('a');
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      set('b');
      now += 2000;
      expect((await hosts.get()).map((h) => h.id)).toEqual(['a', 'b']);
      expect(hosts.fullLoads).toBe(2);
    });
  });

  describe('patch', () => {
    it("applies this process's claim at once, and keeps it over a load that started before the claim", async () => {
      const { db, set, state } = fakeDb();
      set('a', { generation: '5', used_ram_mb: 0 });
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      state.hold = true;
      const load = hosts.get({ fresh: true }); // reads generation 5 before the claim lands
      await new Promise((resolve) => setImmediate(resolve));
      hosts.patch('a', usage('6', 512));
      state.pending.forEach((resolve) => resolve());
      expect((await load)[0]).toMatchObject({ generation: '6', usedRamMb: 512 });
    });

    it('ignores a patch older than what it knows, and gives way once a load shows the row caught up', async () => {
      const { db, set } = fakeDb();
      set('a', { generation: '5' });
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      hosts.patch('a', usage('7', 700));
      hosts.patch('a', usage('6', 600));
      expect((await hosts.get())[0]).toMatchObject({ generation: '7', usedRamMb: 700 });
      set('a', { generation: '9', used_ram_mb: 900 });
      expect((await hosts.get({ fresh: true }))[0]).toMatchObject({ generation: '9', usedRamMb: 900 });
    });
  });

  describe('assume', () => {
    it("counts a claim in flight on top of the counters, through loads and patches, until it is forgotten", async () => {
      const { db, set } = fakeDb();
      set('a', { generation: '1', used_ram_mb: 1000, instances: 1 });
      const hosts = new HostCandidates(db, { ttlMs: 250, now: clock });
      await hosts.get();
      const forget = hosts.assume('a', { vcpus: 2, ramMb: 512, diskGb: 10 });
      const other = hosts.assume('a', { vcpus: 1, ramMb: 256, diskGb: 1 });
      expect((await hosts.get())[0]).toMatchObject({ usedRamMb: 1768, usedVcpus: 3, instances: 3 });
      set('a', { generation: '2', used_ram_mb: 1000, instances: 1 });
      expect((await hosts.get({ fresh: true }))[0]).toMatchObject({ usedRamMb: 1768, instances: 3 });
      // The first claim lands: its own amounts leave the pending sum, the row's counters include them.
      forget();
      forget();
      hosts.patch('a', { generation: '3', used_vcpus: 2, used_ram_mb: 1512, used_disk_gb: 10, instances: 2 });
      expect((await hosts.get())[0]).toMatchObject({ usedRamMb: 1768, instances: 3 });
      other();
      expect((await hosts.get())[0]).toMatchObject({ usedRamMb: 1512, instances: 2 });
    });
  });

  describe('refresh', () => {
    it("re-reads one host's counters and state into the cache, and drops one that is gone", async () => {
      const { db, set, rows } = fakeDb();
      set('a');
      set('b');
      const hosts = new HostCandidates(db, { ttlMs: 60_000, now: clock });
      const before = await hosts.get();
      set('a', { state: 'down', generation: '2', used_ram_mb: 512, ram_mb: 1 });
      rows.delete('b');
      await hosts.refresh('a');
      await hosts.refresh('b');
      expect((await hosts.get()).map((h) => [h.id, h.state, h.usedRamMb, h.ramMb])).toEqual([['a', 'down', 512, 8192]]);
      expect(before.map((h) => h.id)).toEqual(['a', 'b']); // a caller holding the old list keeps it
    });
  });
});
