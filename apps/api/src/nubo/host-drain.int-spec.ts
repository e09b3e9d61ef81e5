/**
 * Host drain against real PostgreSQL (a private database): the host goes to maintenance, each
 * live-migratable server gets its migration record and one `server.live-migrate` job (the queue
 * is a recording fake: the scheduler's side is the live-migration workflow's own spec), a server
 * that cannot move is reported with why, the report follows the migrations, undrain restores.
 */
import { ConflictError, ForbiddenError, NotFoundError, PowerState, TaskState, VmState } from '@nubo/contracts';
import { createDataSource } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { LiveMigrationService } from '../compute/migrations/live-migration.service';
import { HostDrainService } from './host-drain.service';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;

const auth = (isAdmin: boolean): AuthContext => ({
  tokenAuditId: 't',
  userId: isAdmin ? 'admin' : 'member',
  userName: 'n',
  userDomainId: 'default',
  projectId: 'p-drain',
  projectName: 'p',
  projectDomainId: 'default',
  roles: [],
  isAdmin,
  issuedAt: new Date(),
  expiresAt: new Date(Date.now() + 3600_000),
});
const admin = auth(true);

run(HostDrainService.name, () => {
  let database: PrivateDatabase;
  let db: DataSource;
  let drains: HostDrainService;
  const enqueued: Array<{ name: string; payload: Record<string, unknown> }> = [];

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_drain');
    db = await createDataSource({ url: database.url, schemas: ['compute'], applicationName: 'drain-it', poolSize: 3 }).initialize();
    const jobs = { enqueue: async (name: string, payload: Record<string, unknown>) => void enqueued.push({ name, payload }) } as unknown as JobQueue;
    drains = new HostDrainService(db, new LiveMigrationService(db, jobs));
  }, 60_000);

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  beforeEach(async () => {
    enqueued.length = 0;
    await db.query(`TRUNCATE compute.host_drains, compute.migrations, compute.instance_actions, compute.servers, compute.hosts CASCADE`);
    for (const [id, state, reason] of [['h-a', 'up', null], ['h-b', 'up', null], ['h-down', 'down', null], ['h-off', 'disabled', 'rack work']]) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, disabled_reason, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
         VALUES ($1, $2, $3, 'kvm', 8, 8192, 100, now(), now())`,
        [id, state, reason],
      );
    }
  });

  async function addServer(hostId: string, vmState = VmState.Active): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id, image_ref)
       VALUES ($1, 'p-drain', 'u', $2, '1', $3, $4, NULL, $5, 'req', $6, $7)`,
      [id, `drain-${id}`, { vcpus: 1, ramMb: 512, diskGb: 1, name: 'm1.tiny' }, vmState, PowerState.Running, hostId, randomUUID()],
    );
    return id;
  }
  const host = async (id: string) => (await db.query(`SELECT state, disabled_reason FROM compute.hosts WHERE id = $1`, [id]))[0];

  it('puts the host in maintenance and starts one live migration per movable server, no host named', async () => {
    const [s1, s2] = [await addServer('h-a'), await addServer('h-a')];
    const stopped = await addServer('h-a', VmState.Stopped);
    const elsewhere = await addServer('h-b');

    const report = await drains.drain('h-a', admin, 'req-drain-1');
    expect(await host('h-a')).toEqual({ state: 'maintenance', disabled_reason: 'drain' });
    expect(enqueued.map((j) => [j.name, j.payload.serverId]).sort()).toEqual([['server.live-migrate', s1], ['server.live-migrate', s2]].sort());
    const migrations = await db.query(`SELECT server_id, status, requested_host, source_host FROM compute.migrations ORDER BY server_id`);
    expect(migrations).toHaveLength(2);
    for (const m of migrations) expect(m).toMatchObject({ status: 'queued', requested_host: null, source_host: 'h-a' });
    const tasks = await db.query(`SELECT id, task_state FROM compute.servers WHERE id = ANY($1)`, [[s1, s2, elsewhere]]);
    expect(Object.fromEntries(tasks.map((t: { id: string; task_state: string }) => [t.id, t.task_state]))).toEqual({
      [s1]: TaskState.Migrating,
      [s2]: TaskState.Migrating,
      [elsewhere]: null,
    });

    const byServer = Object.fromEntries(report.drain.servers.map((s) => [s.server_id, s]));
    expect(Object.keys(byServer).sort()).toEqual([s1, s2, stopped].sort());
    expect(byServer[s1]).toMatchObject({ status: 'queued', error: null, migration_id: expect.any(Number) });
    expect(byServer[stopped]).toMatchObject({ status: 'not-started', migration_id: null, error: expect.stringContaining('vm_state stopped') });
    expect(report.drain).toMatchObject({ host: 'h-a', host_state: 'maintenance', done: false, remaining_servers: 3 });

    // Draining again while they move starts nothing new and keeps their migrations.
    enqueued.length = 0;
    const again = await drains.drain('h-a', admin, 'req-drain-1b');
    expect(enqueued).toEqual([]);
    expect(again.drain.servers.find((x) => x.server_id === s1)).toEqual(byServer[s1]);
  });

  it('follows the migrations to the end, and draining again retries only what is left', async () => {
    const [s1, s2] = [await addServer('h-a'), await addServer('h-a')];
    await drains.drain('h-a', admin, 'req-drain-2');
    // What the scheduler's workflow does at the end: s1 moved, s2's migration failed.
    await db.query(`UPDATE compute.migrations SET status = 'completed', dest_host = 'h-b' WHERE server_id = $1`, [s1]);
    await db.query(`UPDATE compute.servers SET host_id = 'h-b', task_state = NULL WHERE id = $1`, [s1]);
    await db.query(`UPDATE compute.migrations SET status = 'error', live = '{"outcome": "destination unreachable"}' WHERE server_id = $1`, [s2]);
    await db.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1`, [s2]);

    const after = (await drains.report('h-a', admin)).drain;
    expect(after).toMatchObject({ done: true, remaining_servers: 1 });
    expect(after.servers.find((s) => s.server_id === s1)).toMatchObject({ status: 'completed', host: 'h-b', error: null });
    expect(after.servers.find((s) => s.server_id === s2)).toMatchObject({ status: 'error', error: 'destination unreachable' });

    enqueued.length = 0;
    const again = (await drains.drain('h-a', admin, 'req-drain-3')).drain;
    expect(enqueued.map((j) => j.payload.serverId)).toEqual([s2]);
    expect(again.id).toBe(after.id);
    expect(again.servers.find((s) => s.server_id === s2)).toMatchObject({ status: 'queued', error: null });
  });

  it('undrain gives the host back its state before the drain, once', async () => {
    await drains.drain('h-a', admin, 'req-drain-4');
    expect(await drains.undrain('h-a', admin)).toEqual({ host: { id: 'h-a', state: 'up' } });
    expect(await host('h-a')).toEqual({ state: 'up', disabled_reason: null });
    await expect(drains.undrain('h-a', admin)).rejects.toThrow(ConflictError);
    expect((await drains.report('h-a', admin)).drain.undrained_at).not.toBeNull();

    await drains.drain('h-off', admin, 'req-drain-5');
    expect((await host('h-off')).state).toBe('maintenance');
    await drains.undrain('h-off', admin);
    expect(await host('h-off')).toEqual({ state: 'disabled', disabled_reason: 'rack work' });
  });

  it('refuses members, unknown hosts and hosts that are down, changing nothing', async () => {
    const s = await addServer('h-down');
    await expect(drains.drain('h-a', auth(false), 'r1')).rejects.toThrow(ForbiddenError);
    await expect(drains.drain('nope', admin, 'r2')).rejects.toThrow(NotFoundError);
    await expect(drains.drain('h-down', admin, 'r3')).rejects.toThrow(ConflictError);
    await expect(drains.report('h-b', admin)).rejects.toThrow(NotFoundError);
    await expect(drains.undrain('h-a', auth(false))).rejects.toThrow(ForbiddenError);
    expect(await host('h-a')).toEqual({ state: 'up', disabled_reason: null });
    expect(await host('h-down')).toEqual({ state: 'down', disabled_reason: null });
    expect((await db.query(`SELECT task_state FROM compute.servers WHERE id = $1`, [s]))[0].task_state).toBeNull();
    expect(await db.query(`SELECT 1 FROM compute.host_drains`)).toEqual([]);
    expect(enqueued).toEqual([]);
  });
});
