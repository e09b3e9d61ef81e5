/** The loader's one query against real PostgreSQL: zone, traits, aggregates, reserved, recent failures. */
import { createDataSource, hostZoneSql, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { recordBuildFailure, recordBuildSuccess } from './build-failures';
import { claimOnHost, freeAllocations } from './host-usage';
import { HostCandidates } from './host-candidates';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run(HostCandidates.name, () => {
  const tag = randomUUID().slice(0, 8);
  const id = (name: string) => `it-${tag}-${name}`;
  let db: DataSource;
  let aggregates: number[] = [];

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'host-candidates-it', poolSize: 3 });
    await db.initialize();
    await migrateLocked(db);
    for (const name of ['zoned', 'plain']) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, reserved_ram_mb, last_heartbeat_at, agent_started_at)
         VALUES ($1, 'up', 'tcg', 8, 16384, 200, 1024, now(), now())`,
        [id(name)],
      );
    }
    const agg = async (name: string, zone: string | null, metadata: Record<string, string>, deleted = false) =>
      (
        await db.query(
          `INSERT INTO compute.aggregates (uuid, name, availability_zone, metadata, deleted_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
          [randomUUID(), `it-${tag}-${name}`, zone, metadata, deleted ? new Date() : null],
        )
      )[0].id as number;
    aggregates = [await agg('ssd', `az-${tag}`, { ssd: 'true' }), await agg('gpu', null, { gpu: 'yes' }), await agg('old', null, {}, true)];
    for (const a of aggregates) await db.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, $2)`, [a, id('zoned')]);
    await db.query(`INSERT INTO compute.host_traits (host_id, trait, source) VALUES ($1, 'HW_CPU_X86_AVX2', 'agent'), ($1, 'CUSTOM_GOLD', 'admin')`, [
      id('zoned'),
    ]);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.aggregates WHERE id = ANY($1)`, [aggregates]);
    await db.query(`DELETE FROM compute.hosts WHERE id LIKE $1`, [`it-${tag}-%`]);
    await db.destroy();
  });

  const load = async () => {
    const hosts = await new HostCandidates(db, { ttlMs: 0 }).get();
    return new Map(hosts.filter((h) => h.id.startsWith(`it-${tag}-`)).map((h) => [h.id, h]));
  };

  it("reads a host's zone, traits and live aggregates with their metadata in one load", async () => {
    const hosts = await load();
    const zoned = hosts.get(id('zoned'))!;
    expect(zoned).toMatchObject({ zone: `az-${tag}`, accelerator: 'tcg', ramMb: 16384, reservedRamMb: 1024, usedRamMb: 0, instances: 0 });
    expect([...zoned.traits]).toEqual(['CUSTOM_GOLD', 'HW_CPU_X86_AVX2']);
    expect(zoned.aggregates).toEqual([
      { id: String(aggregates[0]), name: `it-${tag}-ssd`, metadata: { ssd: 'true' } },
      { id: String(aggregates[1]), name: `it-${tag}-gpu`, metadata: { gpu: 'yes' } },
    ]);
    expect(hosts.get(id('plain'))).toMatchObject({ zone: 'nova', aggregates: [], recentFailures: 0 });
    expect(hosts.get(id('plain'))!.traits.size).toBe(0);
  });

  it("puts every host in the zone hostZoneSql gives it (the api's rule)", async () => {
    const loaded = await load();
    const rows: Array<{ id: string; zone: string }> = await db.query(
      `SELECT h.id, COALESCE((${hostZoneSql('h.id')}), 'nova') AS zone FROM compute.hosts h WHERE h.id LIKE $1 ORDER BY h.id`,
      [`it-${tag}-%`],
    );
    expect(rows.map((r) => [r.id, loaded.get(r.id)?.zone])).toEqual(rows.map((r) => [r.id, r.zone]));
  });

  it('counts recent build failures, forgets old ones, and resets on a success', async () => {
    await recordBuildFailure(db, id('plain'));
    await recordBuildFailure(db, id('plain'));
    expect((await load()).get(id('plain'))!.recentFailures).toBe(2);
    await db.query(`UPDATE compute.hosts SET last_failure_at = now() - interval '2 hours' WHERE id = $1`, [id('plain')]);
    expect((await load()).get(id('plain'))!.recentFailures).toBe(0);
    await recordBuildFailure(db, id('plain'));
    expect((await load()).get(id('plain'))!.recentFailures).toBe(1);
    await recordBuildSuccess(db, id('plain'));
    expect((await load()).get(id('plain'))!.recentFailures).toBe(0);
  });
  it('moves the metadata version on aggregate, membership, trait and inventory changes, and on nothing else', async () => {
    const version = async () => (await db.query(`SELECT version::text AS v FROM compute.placement_metadata`))[0].v as string;
    const moves = async (what: () => Promise<unknown>) => {
      const before = await version();
      await what();
      return (await version()) !== before;
    };
    const host = id('plain');
    expect(await moves(() => db.query(`UPDATE compute.aggregates SET metadata = '{"ssd":"no"}' WHERE id = $1`, [aggregates[0]]))).toBe(true);
    expect(await moves(() => db.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, $2)`, [aggregates[1], host]))).toBe(true);
    expect(await moves(() => db.query(`DELETE FROM compute.aggregate_hosts WHERE aggregate_id = $1 AND host_id = $2`, [aggregates[1], host]))).toBe(true);
    expect(await moves(() => db.query(`INSERT INTO compute.host_traits (host_id, trait, source) VALUES ($1, 'CUSTOM_X', 'admin')`, [host]))).toBe(true);
    expect(await moves(() => db.query(`DELETE FROM compute.host_traits WHERE host_id = $1`, [host]))).toBe(true);
    expect(await moves(() => db.query(`UPDATE compute.hosts SET ram_mb = 32768 WHERE id = $1`, [host]))).toBe(true);
    expect(await moves(() => db.query(`UPDATE compute.hosts SET reserved_ram_mb = 512 WHERE id = $1`, [host]))).toBe(true);
    // A heartbeat that writes the same inventory, a state change, a claim and its release: the cache's counters reload covers those.
    expect(await moves(() => db.query(`UPDATE compute.hosts SET ram_mb = 32768, vcpus = 8, last_heartbeat_at = now() WHERE id = $1`, [host]))).toBe(false);
    expect(await moves(() => db.query(`UPDATE compute.hosts SET state = 'disabled' WHERE id = $1`, [host]))).toBe(false);
    await db.query(`UPDATE compute.hosts SET state = 'up' WHERE id = $1`, [host]);
    expect(
      await moves(() =>
        db.transaction(async (tx) => {
          await claimOnHost(tx, host, { vcpus: 1, ramMb: 256, diskGb: 1 }, 1);
          await tx.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 1, 256, 1)`, [randomUUID(), host]);
        }),
      ),
    ).toBe(false);
    expect(await moves(() => db.transaction((tx) => freeAllocations(tx, `host_id = $1`, [host])))).toBe(false);
  });
});
