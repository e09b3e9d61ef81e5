/**
 * Claims against real PostgreSQL, in a database of their own (the races need to be alone with
 * their hosts). Each scheduler is a PlacementService with its own connection pool and its own
 * host cache, warmed before the race so that every one of them decides on stale numbers: only
 * the claim's conditional UPDATE stands between them and an overbooked host.
 *
 * Checked by breaking the guarantees once: with the capacity condition taken out of the claim
 * (CLAIM_SERVER_SQL's host UPDATE without fitsSql), the RAM race placed 24 of 24 servers on a host
 * with room for 5; with the group row lock taken out (lockGroup without FOR UPDATE OF g), the
 * anti-affinity race placed 9, 10 and 10 of the 10 members, three or four to a host (3 runs).
 */
import { NoValidHostError, PowerState, TaskState, VmState } from '@nubo/contracts';
import { createDataSource } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { usageDrift } from './host-usage';
import { PlacementService } from './placement.service';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;

run(PlacementService.name, () => {
  let database: PrivateDatabase;
  let db: DataSource;
  const schedulers: PlacementService[] = [];
  const sources: DataSource[] = [];

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_placement');
    db = createDataSource({ url: database.url, schemas: ['compute'], applicationName: 'placement-it', poolSize: 4 });
    await db.initialize();
    // Eight schedulers, each with its own pool and cache (a TTL long enough to outlive the race).
    for (let i = 0; i < 8; i++) {
      const ds = createDataSource({ url: database.url, schemas: ['compute'], applicationName: `scheduler-${i}`, poolSize: 3 });
      sources.push(await ds.initialize());
      schedulers.push(new PlacementService(ds, { NUBO_SCHEDULER_HOST_CACHE_MS: 60_000 }));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([db, ...sources].map((s) => s?.destroy()));
    await database?.drop();
  });

  beforeEach(async () => {
    await db.query(`TRUNCATE compute.placement_decisions, compute.allocations, compute.server_group_members, compute.server_groups, compute.servers, compute.hosts, compute.aggregates CASCADE`);
  });

  async function addHost(id: string, o: { ramMb?: number; vcpus?: number; diskGb?: number; state?: string; reservedRamMb?: number } = {}) {
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, reserved_ram_mb, last_heartbeat_at, agent_started_at)
       VALUES ($1, $2, 'kvm', $3, $4, $5, $6, now(), now())`,
      [id, o.state ?? 'up', o.vcpus ?? 64, o.ramMb ?? 64 * 1024, o.diskGb ?? 1000, o.reservedRamMb ?? 0],
    );
  }

  async function addServer(flavor = { vcpus: 1, ramMb: 512, diskGb: 1 }): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id)
       VALUES ($1, 'p', 'u', 'it', '1', $2, $3, $4, $5, 'req')`,
      [id, { ...flavor, name: 't' }, VmState.Building, TaskState.Scheduling, PowerState.NoState],
    );
    return id;
  }

  /** Every scheduler loads its cache now, so that what follows happens behind its back. */
  const warmCaches = () => Promise.all(schedulers.map((s) => s.hosts.get({ fresh: true })));

  const outcomes = (results: PromiseSettledResult<string | null>[]) => ({
    placed: results.filter((r) => r.status === 'fulfilled').length,
    noValidHost: results.filter((r) => r.status === 'rejected' && r.reason instanceof NoValidHostError).length,
    other: results.filter((r) => r.status === 'rejected' && !(r.reason instanceof NoValidHostError)).map((r) => String((r as PromiseRejectedResult).reason)),
  });

  const overCapacity = async () =>
    (
      await db.query(
        `SELECT h.id FROM compute.hosts h JOIN (SELECT host_id, SUM(vcpus) v, SUM(ram_mb) r, SUM(disk_gb) d FROM compute.allocations GROUP BY host_id) a
           ON a.host_id = h.id
          WHERE a.v > floor((h.vcpus - h.reserved_vcpus) * h.cpu_allocation_ratio) OR a.r > floor((h.ram_mb - h.reserved_ram_mb) * h.ram_allocation_ratio)
             OR a.d > floor((h.disk_gb - h.reserved_disk_gb) * h.disk_allocation_ratio)`,
      )
    ).length;

  describe('claimForServer', () => {
    it.each([
      ['RAM', { ramMb: 10 * 512, reservedRamMb: 512 }, { vcpus: 1, ramMb: 512, diskGb: 1 }, 4, 5],
      ['vCPUs (x4 allocation ratio)', { vcpus: 3 }, { vcpus: 1, ramMb: 64, diskGb: 1 }, 7, 5],
      ['disk', { diskGb: 20 }, { vcpus: 1, ramMb: 64, diskGb: 2 }, 5, 5],
    ])('lets 8 schedulers racing 24 claims take exactly the last free slots of one host (%s)', async (_what, host, flavor, before, free) => {
      await addHost('h1', host);
      await warmCaches();
      // Fill the host behind the caches' back but for `free` slots.
      for (let i = 0; i < before; i++) await expect(schedulers[0].claimForServer(await addServer(flavor), flavor)).resolves.toBe('h1');
      const servers = await Promise.all(Array.from({ length: 24 }, () => addServer(flavor)));
      const results = await Promise.allSettled(servers.map((id, i) => schedulers[i % 8].claimForServer(id, flavor)));
      expect(outcomes(results)).toEqual({ placed: free, noValidHost: 24 - free, other: [] });
      expect(await overCapacity()).toBe(0);
      expect(await usageDrift(db)).toEqual([]);
      const [{ spawning }] = await db.query(`SELECT count(*)::int AS spawning FROM compute.servers WHERE host_id = 'h1' AND task_state = 'spawning'`);
      expect(spawning).toBe(before + free);
    });

    it('never puts two members of a hard anti-affinity group on one host: 10 parallel creates over 3 eligible hosts', async () => {
      for (const h of ['x', 'y', 'z']) await addHost(h);
      await addHost('down', { state: 'down' });
      await warmCaches();
      const groupId = randomUUID();
      await db.query(`INSERT INTO compute.server_groups (id, project_id, user_id, name, policy) VALUES ($1, 'p', 'u', 'g', 'anti-affinity')`, [groupId]);
      const servers = await Promise.all(Array.from({ length: 10 }, () => addServer()));
      for (const id of servers) await db.query(`INSERT INTO compute.server_group_members (group_id, server_id) VALUES ($1, $2)`, [groupId, id]);
      const flavor = { vcpus: 1, ramMb: 256, diskGb: 1 };
      const results = await Promise.allSettled(servers.map((id, i) => schedulers[i % 8].claimForServer(id, flavor)));
      expect(outcomes(results)).toEqual({ placed: 3, noValidHost: 7, other: [] });
      const perHost: Array<{ host_id: string; n: number }> = await db.query(
        `SELECT s.host_id, count(*)::int AS n FROM compute.servers s JOIN compute.server_group_members m ON m.server_id = s.id
          WHERE m.group_id = $1 AND s.host_id IS NOT NULL GROUP BY s.host_id ORDER BY s.host_id`,
        [groupId],
      );
      expect(perHost).toEqual([
        { host_id: 'x', n: 1 },
        { host_id: 'y', n: 1 },
        { host_id: 'z', n: 1 },
      ]);
      expect(await usageDrift(db)).toEqual([]);
    });

    it('moves to another host when the cached one went down, and never claims on a down host', async () => {
      await addHost('a', { ramMb: 8192 });
      await addHost('b', { ramMb: 4096 });
      await warmCaches();
      await db.query(`UPDATE compute.hosts SET state = 'down' WHERE id = 'a'`);
      await expect(schedulers[1].claimForServer(await addServer(), { vcpus: 1, ramMb: 512, diskGb: 1 })).resolves.toBe('b');
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM compute.allocations WHERE host_id = 'a'`);
      expect(n).toBe(0);
    });

    it('places by aggregates as they are now, never as a cached list saw them', async () => {
      await addHost('a');
      await addHost('b');
      const zone = async (name: string, host: string) => {
        const [{ id }] = await db.query(`INSERT INTO compute.aggregates (uuid, name, availability_zone) VALUES ($1, $2, $2) RETURNING id`, [randomUUID(), name]);
        await db.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, $2)`, [id, host]);
        return id as number;
      };
      const az1 = await zone('az1', 'a');
      await warmCaches(); // every cache: a in az1 (for a minute)
      // The admin moves az1 to b: a decision on a cached list would still pick a.
      await db.query(`DELETE FROM compute.aggregate_hosts WHERE aggregate_id = $1`, [az1]);
      await db.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, 'b')`, [az1]);
      const flavor = { vcpus: 1, ramMb: 256, diskGb: 1 };
      for (const s of schedulers.slice(0, 3)) await expect(s.claimForServer(await addServer(), { ...flavor, availabilityZone: 'az1' })).resolves.toBe('b');
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM compute.allocations WHERE host_id = 'a'`);
      expect(n).toBe(0);
    });

    it('says which filter emptied the list when nothing fits, and records the decision once', async () => {
      await addHost('small', { ramMb: 1024 });
      const id = await addServer();
      const error = await schedulers[0].claimForServer(id, { vcpus: 1, ramMb: 4096, diskGb: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoValidHostError);
      expect((error as Error).message).toMatch(/^No valid host was found\. .*Filter RamFilter removed the last 1 host/);
      const decisions = await db.query(`SELECT attempt, host_id, explanation->>'chosen' AS chosen FROM compute.placement_decisions WHERE server_id = $1`, [id]);
      expect(decisions).toEqual([{ attempt: 1, host_id: null, chosen: null }]);
    });

    it("records the decision with the claim: the chosen host and each filter's count", async () => {
      await addHost('one');
      const id = await addServer();
      await expect(schedulers[2].claimForServer(id, { vcpus: 1, ramMb: 256, diskGb: 1 }, { attempt: 2 })).resolves.toBe('one');
      const [decision] = await db.query(`SELECT attempt, host_id, explanation FROM compute.placement_decisions WHERE server_id = $1`, [id]);
      expect(decision).toMatchObject({ attempt: 2, host_id: 'one', explanation: { chosen: 'one', weighed: [{ host: 'one' }] } });
      expect(decision.explanation.filters.map((f: { in: number }) => f.in)).toEqual(decision.explanation.filters.map(() => 1));
    });

    it('does not place a server that left the scheduling state, and keeps nothing claimed', async () => {
      await addHost('b');
      const id = await addServer();
      await db.query(`UPDATE compute.servers SET task_state = 'deleting' WHERE id = $1`, [id]);
      await expect(schedulers[0].claimForServer(id, { vcpus: 1, ramMb: 256, diskGb: 1 })).resolves.toBeNull();
      expect(await db.query(`SELECT 1 FROM compute.allocations WHERE consumer_id = $1`, [id])).toHaveLength(0);
      const [host] = await db.query(`SELECT used_ram_mb, instances, generation FROM compute.hosts WHERE id = 'b'`);
      expect(host).toEqual({ used_ram_mb: 0, instances: 0, generation: '0' });
    });
  });

  describe('release', () => {
    it('gives back what the server held, once, and the next claim may use it', async () => {
      await addHost('r', { ramMb: 1024 });
      const first = await addServer({ vcpus: 1, ramMb: 1024, diskGb: 1 });
      await schedulers[0].claimForServer(first, { vcpus: 1, ramMb: 1024, diskGb: 1 });
      await warmCaches();
      for (let i = 0; i < 2; i++) await db.transaction((tx) => schedulers[0].release(tx, first));
      const [host] = await db.query(`SELECT used_vcpus, used_ram_mb, used_disk_gb, instances FROM compute.hosts WHERE id = 'r'`);
      expect(host).toEqual({ used_vcpus: 0, used_ram_mb: 0, used_disk_gb: 0, instances: 0 });
      // Another scheduler, whose cache still shows the host full, confirms on fresh numbers and finds the room.
      await expect(schedulers[3].claimForServer(await addServer(), { vcpus: 1, ramMb: 1024, diskGb: 1 })).resolves.toBe('r');
      expect(await usageDrift(db)).toEqual([]);
    });
  });
});
