/**
 * One claim statement for many servers against real PostgreSQL: every claim of a batch comes out
 * on its own (placed, host full, server gone, grouped, stale) and nothing is half-written.
 */
import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { usageDrift } from './host-usage';
import { ServerClaim, claimServers } from './server-claims';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;

run('claimServers', () => {
  let database: PrivateDatabase;
  let pool: Pool;

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_claims');
    pool = new Pool({ connectionString: database.url, max: 4 });
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  const addHost = (id: string, ramMb: number, state = 'up') =>
    pool.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at) VALUES ($1, $2, 'kvm', 8, $3, 100, now(), now())`,
      [id, state, ramMb],
    );
  const addServer = async (taskState: string = TaskState.Scheduling) => {
    const id = randomUUID();
    await pool.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id)
       VALUES ($1, 'p', 'u', 'it', '1', '{}', $2, $3, $4, 'req-it')`,
      [id, VmState.Building, taskState, PowerState.NoState],
    );
    return id;
  };
  const version = async () => (await pool.query(`SELECT version::text AS v FROM compute.placement_metadata`)).rows[0].v as string;
  const claim = (serverId: string, hostId: string, ramMb: number, metadataVersion: string): ServerClaim => ({
    serverId,
    hostId,
    vcpus: 1,
    ramMb,
    diskGb: 1,
    attempt: 1,
    explanation: { filters: [], weighed: [], chosen: hostId },
    ungroupedOnly: true,
    metadataVersion,
  });

  it('places, refuses and skips each claim of one batch on its own', async () => {
    await addHost('roomy', 4096);
    await addHost('full', 512);
    await addHost('down', 4096, 'down');
    const [placed, tooBig, onDown, deleting, grouped] = [await addServer(), await addServer(), await addServer(), await addServer(TaskState.Deleting), await addServer()];
    const groupId = randomUUID();
    await pool.query(`INSERT INTO compute.server_groups (id, project_id, user_id, name, policy) VALUES ($1, 'p', 'u', 'g', 'anti-affinity')`, [groupId]);
    await pool.query(`INSERT INTO compute.server_group_members (group_id, server_id) VALUES ($1, $2)`, [groupId, grouped]);
    const v = await version();
    const rows = await claimServers(pool, [
      claim(placed, 'roomy', 1024, v),
      claim(tooBig, 'full', 1024, v),
      claim(onDown, 'down', 1024, v),
      claim(deleting, 'roomy-2', 1024, v),
      claim(grouped, 'roomy-3', 1024, v),
    ]);
    const summary = rows.map((r) => ({ id: r.server_id, schedulable: r.schedulable, grouped: r.grouped, stale: r.stale, used: r.used_ram_mb }));
    expect(summary).toEqual([
      { id: placed, schedulable: 1, grouped: false, stale: false, used: 1024 },
      { id: tooBig, schedulable: 1, grouped: false, stale: false, used: null },
      { id: onDown, schedulable: 1, grouped: false, stale: false, used: null },
      { id: deleting, schedulable: 0, grouped: false, stale: false, used: null },
      { id: grouped, schedulable: 0, grouped: true, stale: false, used: null },
    ]);
    const servers = await pool.query(`SELECT id, host_id, task_state FROM compute.servers WHERE host_id IS NOT NULL`);
    expect(servers.rows).toEqual([{ id: placed, host_id: 'roomy', task_state: 'spawning' }]);
    const allocations = await pool.query(`SELECT consumer_id, host_id, ram_mb FROM compute.allocations`);
    expect(allocations.rows).toEqual([{ consumer_id: placed, host_id: 'roomy', ram_mb: 1024 }]);
    const decisions = await pool.query(`SELECT server_id, host_id, request_id, explanation->>'chosen' AS chosen FROM compute.placement_decisions`);
    expect(decisions.rows).toEqual([{ server_id: placed, host_id: 'roomy', request_id: 'req-it', chosen: 'roomy' }]);
    expect(await usageDrift(pool)).toEqual([]);
  });

  it('refuses a claim decided on metadata that moved since, and only that one', async () => {
    await addHost('zoned', 4096);
    const old = await version();
    await pool.query(`INSERT INTO compute.host_traits (host_id, trait, source) VALUES ('zoned', 'CUSTOM_NEW', 'admin')`);
    const now = await version();
    const [a, b] = [await addServer(), await addServer()];
    const rows = await claimServers(pool, [claim(a, 'zoned', 512, old), claim(b, 'roomy', 512, now)]);
    expect(rows.map((r) => [r.server_id, r.stale, r.generation === null])).toEqual([
      [a, true, true],
      [b, false, false],
    ]);
    const { rows: held } = await pool.query(`SELECT consumer_id FROM compute.allocations WHERE consumer_id = ANY($1)`, [[a, b]]);
    expect(held).toEqual([{ consumer_id: b }]);
  });
});
