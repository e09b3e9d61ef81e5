/** Claims against real PostgreSQL: many schedulers racing never push a host past its inventory. */
import { NoValidHostError, PowerState, TaskState, VmState } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { PlacementService } from './placement.service';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run(PlacementService.name, () => {
  const tag = randomUUID().slice(0, 8);
  const sources: DataSource[] = [];
  let db: DataSource;

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'placement-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    // Eight "schedulers", each with its own connection pool.
    for (let i = 0; i < 8; i++) {
      const ds = createDataSource({ url: url!, schemas: ['compute'], applicationName: `scheduler-${i}`, poolSize: 2 });
      sources.push(await ds.initialize());
    }
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.allocations WHERE host_id LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id LIKE $1`, [`it-${tag}-%`]);
    await Promise.all([db, ...sources].map((s) => s.destroy()));
  });

  async function addHost(id: string, ramMb: number, state = 'up'): Promise<void> {
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, $2, 'kvm', 64, $3, 1000, now(), now())`,
      [id, state, ramMb],
    );
  }

  async function addServer(ramMb: number): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id)
       VALUES ($1, 'p', 'u', $2, '1', $3, $4, $5, $6, 'req')`,
      [id, `it-${tag}-${id}`, { vcpus: 1, ramMb, diskGb: 1, name: 't' }, VmState.Building, TaskState.Scheduling, PowerState.NoState],
    );
    return id;
  }

  it('lets exactly as many claims through as fit, with 8 schedulers racing 24 claims', async () => {
    // Hide every other host so that the race is for this one alone.
    await db.query(`UPDATE compute.hosts SET state = 'disabled' WHERE id NOT LIKE $1 AND state = 'up'`, [`it-${tag}-%`]);
    const host = `it-${tag}-a`;
    await addHost(host, 5 * 512);
    const servers = await Promise.all(Array.from({ length: 24 }, () => addServer(512)));
    const results = await Promise.allSettled(
      servers.map((id, i) => new PlacementService(sources[i % sources.length]).claimForServer(id, { vcpus: 1, ramMb: 512, diskGb: 1 })),
    );
    const placed = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(placed).toHaveLength(5);
    expect(refused.every((r) => (r as PromiseRejectedResult).reason instanceof NoValidHostError)).toBe(true);
    const [{ used }] = await db.query(`SELECT COALESCE(SUM(ram_mb), 0)::int AS used FROM compute.allocations WHERE host_id = $1`, [host]);
    expect(used).toBe(5 * 512);
    const [{ spawning }] = await db.query(
      `SELECT count(*)::int AS spawning FROM compute.servers WHERE host_id = $1 AND task_state = 'spawning'`,
      [host],
    );
    expect(spawning).toBe(5);
  });

  it('never puts two members of a hard anti-affinity group on one host, racing 10 claims over 3 hosts', async () => {
    await db.query(`UPDATE compute.hosts SET state = 'disabled' WHERE id LIKE $1`, [`it-${tag}-%`]);
    const hosts = ['x', 'y', 'z'].map((h) => `it-${tag}-${h}`);
    for (const h of hosts) await addHost(h, 64 * 1024);
    const groupId = randomUUID();
    await db.query(
      `INSERT INTO compute.server_groups (id, project_id, user_id, name, policy) VALUES ($1, 'p', 'u', $2, 'anti-affinity')`,
      [groupId, `it-${tag}-group`],
    );
    const servers = await Promise.all(Array.from({ length: 10 }, () => addServer(256)));
    for (const id of servers) {
      await db.query(`INSERT INTO compute.server_group_members (group_id, server_id) VALUES ($1, $2)`, [groupId, id]);
    }
    const results = await Promise.allSettled(
      servers.map((id, i) => new PlacementService(sources[i % sources.length]).claimForServer(id, { vcpus: 1, ramMb: 256, diskGb: 1 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof NoValidHostError)).toBe(true);
    const perHost: Array<{ host_id: string; n: number }> = await db.query(
      `SELECT s.host_id, count(*)::int AS n FROM compute.servers s JOIN compute.server_group_members m ON m.server_id = s.id
        WHERE m.group_id = $1 AND s.host_id IS NOT NULL GROUP BY s.host_id`,
      [groupId],
    );
    expect(perHost.map((r) => r.host_id).sort()).toEqual(hosts);
    expect(perHost.every((r) => r.n === 1)).toBe(true);
    await db.query(`DELETE FROM compute.server_groups WHERE id = $1`, [groupId]);
  });

  it('does not place a server that left the scheduling state', async () => {
    await addHost(`it-${tag}-b`, 4096);
    const id = await addServer(256);
    await db.query(`UPDATE compute.servers SET task_state = 'deleting' WHERE id = $1`, [id]);
    await expect(new PlacementService(db).claimForServer(id, { vcpus: 1, ramMb: 256, diskGb: 1 })).resolves.toBeNull();
    const rows = await db.query(`SELECT 1 FROM compute.allocations WHERE consumer_id = $1`, [id]);
    expect(rows).toHaveLength(0);
  });
});
