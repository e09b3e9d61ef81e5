/** The loader's one query against real PostgreSQL: zone, traits, aggregates, reserved, recent failures. */
import { createDataSource, hostZoneSql, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { recordBuildFailure, recordBuildSuccess } from './build-failures';
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
});
