/**
 * PowerSyncService against real PostgreSQL and Redis, with a stub agent: what reaches the rows,
 * that a stale observation the agent contradicts changes nothing, and that an autostart is queued
 * once however many observations race for it.
 */
import { Logger } from '@nestjs/common';
import { InstanceExit, InstanceStatus, PowerState, TaskState, VmState, jobId } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import IORedis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { AgentClient } from '../workflows/agent-client';
import { PowerSyncService } from './power-sync.service';

const url = process.env.NUBO_DATABASE_URL;
const redisUrl = process.env.NUBO_REDIS_URL;
const run = url && redisUrl ? describe : describe.skip;

run(PowerSyncService.name, () => {
  const tag = randomUUID().slice(0, 8);
  const host = `it-${tag}-h1`;
  const cloud = `it-power-${tag}`;
  let db: DataSource;
  let queue: JobQueue;
  let service: PowerSyncService;
  /** A second scheduler: two processes racing for one server meet at the compare-and-set. */
  let other: PowerSyncService;
  /** What the stub agent answers to status, per server. */
  const live = new Map<string, InstanceStatus>();
  const agents = {
    status: jest.fn(async (_host: string, serverId: string) => live.get(serverId) ?? { serverId, powerState: PowerState.NoState }),
    destroy: jest.fn(async (_host: string, serverId: string) => ({ serverId, destroyed: true })),
  };
  const exit = (cause: InstanceExit['cause'], detail = 'x'): InstanceExit => ({ cause, detail, at: new Date().toISOString() });

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'power-sync-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, 'up', 'kvm', 8, 8192, 100, now(), now())`,
      [host],
    );
    const config = { NUBO_REDIS_URL: redisUrl!, NUBO_CLOUD_NAME: cloud } as SchedulerConfig;
    service = new PowerSyncService(db, agents as unknown as AgentClient, config);
    other = new PowerSyncService(db, agents as unknown as AgentClient, config);
    queue = new JobQueue({ redisUrl: redisUrl!, prefix: `bull-${cloud}` });
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.instance_actions WHERE server_id IN (SELECT id FROM compute.servers WHERE host_id = $1)`, [host]);
    await db.query(`DELETE FROM compute.servers WHERE host_id = $1`, [host]);
    await db.query(`DELETE FROM compute.hosts WHERE id = $1`, [host]);
    await service.onModuleDestroy();
    await other.onModuleDestroy();
    await queue.close();
    const redis = new IORedis(redisUrl!);
    const keys = await redis.keys(`bull-${cloud}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await db.destroy();
  });

  beforeEach(() => {
    live.clear();
    jest.clearAllMocks();
  });

  async function addServer(o: { vmState?: VmState; taskState?: TaskState | null; powerState?: PowerState; deleted?: boolean } = {}): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id, deleted_at)
       VALUES ($1, 'p', 'u', $2, '1', $3, $4, $5, $6, 'req', $7, CASE WHEN $8 THEN now() END)`,
      [id, `it-${tag}`, { vcpus: 1, ramMb: 64, diskGb: 1, name: 't' }, o.vmState ?? VmState.Active, o.taskState ?? null, o.powerState ?? PowerState.Running, host, o.deleted ?? false],
    );
    return id;
  }

  async function row(id: string) {
    const [r] = await db.query(`SELECT vm_state, task_state, power_state, fault FROM compute.servers WHERE id = $1`, [id]);
    return r as { vm_state: string; task_state: string | null; power_state: string; fault: { message: string } | null };
  }

  it('writes SHUTOFF with a fault when the agent confirms QEMU died (kill -9)', async () => {
    const id = await addServer();
    const lastExit = exit('unexpected', 'killed by SIGKILL');
    live.set(id, { serverId: id, powerState: PowerState.Shutdown, lastExit });
    await service.observe(host, id, { powerState: PowerState.Shutdown, lastExit });
    expect(await row(id)).toMatchObject({ vm_state: 'stopped', task_state: null, power_state: 'shutdown', fault: { message: 'QEMU exited unexpectedly: killed by SIGKILL' } });
  });

  it('writes SHUTOFF without a fault when the guest powered off', async () => {
    const id = await addServer();
    live.set(id, { serverId: id, powerState: PowerState.Shutdown, lastExit: exit('guest-shutdown') });
    await service.observe(host, id, { powerState: PowerState.Shutdown, lastExit: exit('guest-shutdown') });
    expect(await row(id)).toMatchObject({ vm_state: 'stopped', fault: null });
  });

  it('changes nothing when the agent, asked again, says it runs (a stale heartbeat)', async () => {
    const id = await addServer();
    live.set(id, { serverId: id, powerState: PowerState.Running });
    await service.syncHost(host, [{ serverId: id, powerState: PowerState.Shutdown, lastExit: exit('host-stop') }]);
    expect(await row(id)).toMatchObject({ vm_state: 'active', power_state: 'running', fault: null });
    expect(agents.status).toHaveBeenCalledTimes(1);
  });

  it('changes nothing when the agent cannot be asked', async () => {
    const id = await addServer();
    agents.status.mockRejectedValueOnce(new Error('nobody serves'));
    await service.observe(host, id, { powerState: PowerState.Shutdown, lastExit: exit('unexpected') });
    expect(await row(id)).toMatchObject({ vm_state: 'active', power_state: 'running' });
  });

  it('only records the power state of a server an operation owns', async () => {
    const id = await addServer({ taskState: TaskState.Rebooting });
    await service.observe(host, id, { powerState: PowerState.Shutdown, lastExit: exit('found-dead') });
    expect(await row(id)).toMatchObject({ vm_state: 'active', task_state: 'rebooting', power_state: 'shutdown' });
    expect(agents.status).not.toHaveBeenCalled();
  });

  it('starts a server found dead once, through a start job and an instance action, however many observations race', async () => {
    const id = await addServer();
    const lastExit = exit('found-dead');
    live.set(id, { serverId: id, powerState: PowerState.Shutdown, lastExit });
    const seen = { powerState: PowerState.Shutdown, lastExit };
    await Promise.all([service.observe(host, id, seen), other.syncHost(host, [{ serverId: id, ...seen }]), other.observe(host, id, seen), service.observe(host, id, seen)]);
    expect(agents.status.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(await row(id)).toMatchObject({ vm_state: 'stopped', task_state: 'powering-on', fault: { message: expect.stringMatching(/starting it again/) } });
    const actions = await db.query(`SELECT action, request_id FROM compute.instance_actions WHERE server_id = $1`, [id]);
    expect(actions).toEqual([{ action: 'start', request_id: expect.stringMatching(/^req-/) }]);
    const job = await queue.inspect(jobId('server.action', id, actions[0].request_id));
    expect(job).toMatchObject({ name: 'server.action', data: { serverId: id, action: 'start', requestId: actions[0].request_id } });
    // Later heartbeats while the start runs change nothing.
    await service.syncHost(host, [{ serverId: id, ...seen }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM compute.instance_actions WHERE server_id = $1`, [id])).toEqual([{ n: 1 }]);
  });

  it('marks a server its host does not list as missing (a ghost)', async () => {
    const id = await addServer();
    await service.syncHost(host, []);
    expect(await row(id)).toMatchObject({ vm_state: 'stopped', power_state: 'nostate', fault: { message: 'The instance is missing on its host' } });
  });

  it('destroys the instance of a deleted server its host still lists', async () => {
    const id = await addServer({ deleted: true });
    await service.syncHost(host, [{ serverId: id, powerState: PowerState.Running }]);
    // The server is deleted: its disks on shared storage go too.
    expect(agents.destroy).toHaveBeenCalledWith(host, id, expect.objectContaining({ opId: `reap-${id}` }), { deleteSharedDisks: true });
  });
});
