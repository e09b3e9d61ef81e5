/**
 * Resize claims against real PostgreSQL: during a resize the host holds both flavors (the server
 * the new one, its migration record the old one), a host that cannot take the new flavor changes
 * nothing, racing upsizes never push a host past its inventory, and confirm, revert and a
 * server's delete free what they should, once.
 */
import { NoValidHostError, PowerState, TaskState, VmState } from '@nubo/contracts';
import { MigrationRecord, createDataSource, getMigration, insertMigration, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { usageDrift } from './host-usage';
import { PlacementService } from './placement.service';
import { ResizeClaims } from './resize-claims';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const tiny = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
const big = { vcpus: 2, ramMb: 1024, diskGb: 2, name: 'big' };

run(ResizeClaims.name, () => {
  const tag = randomUUID().slice(0, 8);
  let db: DataSource;
  let claims: ResizeClaims;

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'resize-claims-it', poolSize: 6 });
    await db.initialize();
    await migrateLocked(db);
    claims = new ResizeClaims(db);
  });

  // Every claim, confirm, revert and release moves the hosts' usage counters with the allocations.
  afterEach(async () => expect(await usageDrift(db, `h.id LIKE 'it-${tag}-%'`)).toEqual([]));

  afterAll(async () => {
    await db.query(`DELETE FROM compute.allocations WHERE host_id LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.migrations WHERE source_host LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id LIKE $1`, [`it-${tag}-%`]);
    await db.destroy();
  });

  async function addHost(name: string, ramMb: number): Promise<string> {
    const id = `it-${tag}-${name}`;
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, 'up', 'kvm', 4, $2, 100, now(), now())`,
      [id, ramMb],
    );
    return id;
  }

  /** A server on `host` holding `tiny`, with a resize to `big` accepted (resize_prep, pre-migrating). */
  async function resizing(host: string, to = big): Promise<MigrationRecord> {
    const serverId = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, host_id, request_id)
       VALUES ($1, 'p', 'u', $2, 'tiny', $3, $4, $5, $6, $7, 'req')`,
      [serverId, `it-${tag}-${serverId}`, tiny, VmState.Active, TaskState.ResizePrep, PowerState.Running, host],
    );
    await db.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 1, 512, 1)`, [serverId, host]);
    await db.query(
      `UPDATE compute.hosts SET used_vcpus = used_vcpus + 1, used_ram_mb = used_ram_mb + 512, used_disk_gb = used_disk_gb + 1, instances = instances + 1
        WHERE id = $1`,
      [host],
    );
    const m: MigrationRecord = {
      id: randomUUID(), serverId, projectId: 'p', migrationType: 'resize', status: 'pre-migrating', sourceHost: host, destHost: host,
      oldFlavorId: 'tiny', oldFlavor: tiny, newFlavorId: to.name, newFlavor: to, oldVmState: VmState.Active, requestId: 'req',
    };
    await insertMigration(db, m);
    return m;
  }

  const held = async (consumer: string) =>
    (await db.query(`SELECT vcpus, ram_mb, disk_gb FROM compute.allocations WHERE consumer_id = $1`, [consumer])) as Array<Record<string, number>>;
  const taskOf = async (id: string) => (await db.query(`SELECT task_state FROM compute.servers WHERE id = $1`, [id]))[0].task_state;
  const generation = async (host: string) => (await db.query(`SELECT generation FROM compute.hosts WHERE id = $1`, [host]))[0].generation;

  it('holds both flavors on the host: the new one for the server, the old one for its migration', async () => {
    const host = await addHost('a', 4096);
    const m = await resizing(host);
    const before = await generation(host);
    await expect(claims.claim(m)).resolves.toBe('claimed');
    expect(await held(m.serverId)).toEqual([{ vcpus: 2, ram_mb: 1024, disk_gb: 2 }]);
    expect(await held(m.id)).toEqual([{ vcpus: 1, ram_mb: 512, disk_gb: 1 }]);
    expect(await taskOf(m.serverId)).toBe(TaskState.ResizeMigrating);
    expect((await getMigration(db, m.id))?.status).toBe('migrating');
    expect(BigInt(await generation(host))).toBe(BigInt(before) + 1n);
    // A replay of the claim finds it done and changes nothing.
    await expect(claims.claim({ ...m })).resolves.toBe('gone');
    expect(await held(m.serverId)).toHaveLength(1);
  });

  it('revert frees the new flavor and gives the old one back to the server, once', async () => {
    const host = await addHost('b', 4096);
    const m = await resizing(host);
    await claims.claim(m);
    for (let i = 0; i < 2; i++) {
      await db.transaction((tx) => claims.revert(tx, m));
      expect(await held(m.serverId)).toEqual([{ vcpus: 1, ram_mb: 512, disk_gb: 1 }]);
      expect(await held(m.id)).toEqual([]);
    }
  });

  it('confirm frees the old flavor; the server keeps the new one', async () => {
    const host = await addHost('c', 4096);
    const m = await resizing(host);
    await claims.claim(m);
    await db.transaction((tx) => claims.confirm(tx, m));
    expect(await held(m.id)).toEqual([]);
    expect(await held(m.serverId)).toEqual([{ vcpus: 2, ram_mb: 1024, disk_gb: 2 }]);
  });

  it("refuses with Nova's NoValidHost when the host cannot take the new flavor beside the old, and changes nothing", async () => {
    const host = await addHost('d', 1024);
    const m = await resizing(host);
    const before = await generation(host);
    const error = await claims.claim(m).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoValidHostError);
    expect((error as Error).message).toBe('No valid host was found. There are not enough hosts available.');
    expect(await held(m.serverId)).toEqual([{ vcpus: 1, ram_mb: 512, disk_gb: 1 }]);
    expect(await held(m.id)).toEqual([]);
    expect(await taskOf(m.serverId)).toBe(TaskState.ResizePrep);
    expect((await getMigration(db, m.id))?.status).toBe('pre-migrating');
    expect(await generation(host)).toBe(before);
  });

  it('lets exactly as many racing upsizes through as the host has room for', async () => {
    // 6 servers of 512 MB on 4 GB: 1 GB free, room for one more 1 GB flavor beside them.
    const host = await addHost('e', 4096);
    const migrations = await Promise.all(Array.from({ length: 6 }, () => resizing(host)));
    const racers = Array.from({ length: 3 }, () => createDataSource({ url: url!, schemas: ['compute'], applicationName: 'resize-racer', poolSize: 2 }));
    await Promise.all(racers.map((r) => r.initialize()));
    try {
      const results = await Promise.allSettled(migrations.map((m, i) => new ResizeClaims(racers[i % racers.length]).claim(m)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof NoValidHostError)).toBe(true);
      const [{ used }] = await db.query(`SELECT SUM(ram_mb)::int AS used FROM compute.allocations WHERE host_id = $1`, [host]);
      expect(used).toBe(4096);
    } finally {
      await Promise.all(racers.map((r) => r.destroy()));
    }
  });

  it("a server's release (delete) frees what its migration holds too", async () => {
    const host = await addHost('f', 4096);
    const m = await resizing(host);
    await claims.claim(m);
    await db.transaction((tx) => new PlacementService(db).release(tx, m.serverId));
    expect(await held(m.serverId)).toEqual([]);
    expect(await held(m.id)).toEqual([]);
  });
});
