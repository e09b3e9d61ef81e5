/**
 * server.create's reschedule against real PostgreSQL with a scripted agent: a spawn the agent
 * answers with an error is retried on another host (the failed claim released, the host's recent
 * failures counted, the failure recorded with the decisions), up to the configured attempts; a
 * spawn it does not answer is not (a QEMU may run there). Each test uses hosts of its own, in an
 * availability zone of its own, so that other hosts in the database are never chosen.
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, InstanceStatus, InternalError, PowerState, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { ServerEntity, createDataSource, migrateLocked, recordAction } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
import { AgentRetry } from './agent-retry';
import { CreateReschedule } from './create-reschedule';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { ServerCreateWorkflow } from './server-create.workflow';
import { ServerFaults } from './server-faults';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const flavor = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
type Answer = 'ok' | 'fail' | 'timeout';

run('server.create reschedule', () => {
  const tag = randomUUID().slice(0, 8);
  const project = `p-rs-${tag}`;
  let db: DataSource;
  let zones = 0;
  /** What the scripted agent answers to each spawn, in order (default: ok), and what it was asked. */
  let answers: Answer[];
  let calls: Array<{ op: 'spawn' | 'destroy'; hostId: string }>;

  /** `n` big, empty hosts in a new availability zone: they win any ranking, and only they are in the zone. */
  async function zoneWithHosts(n: number): Promise<{ zone: string; hosts: string[] }> {
    const zone = `it-${tag}-az${++zones}`;
    const hosts = Array.from({ length: n }, (_, i) => `it-${tag}-z${zones}-h${i + 1}`);
    const [{ id }] = await db.query(`INSERT INTO compute.aggregates (uuid, name, availability_zone) VALUES ($1, $2, $2) RETURNING id`, [randomUUID(), zone]);
    for (const host of hosts) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
         VALUES ($1, 'up', 'kvm', 100000, 1000000000, 10000000, now(), now())`,
        [host],
      );
      await db.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, $2)`, [id, host]);
    }
    return { zone, hosts };
  }

  async function addServer(zone: string): Promise<{ serverId: string; requestId: string }> {
    const serverId = randomUUID();
    const requestId = `req-${randomUUID()}`;
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, availability_zone)
       VALUES ($1, $2, 'u', $3, 'tiny', $4, $5, $6, $7, $8, $9)`,
      [serverId, project, `it-${tag}-${serverId}`, flavor, VmState.Building, TaskState.Scheduling, PowerState.NoState, requestId, zone],
    );
    await recordAction(db, { serverId, projectId: project, userId: 'u', action: 'create', requestId });
    return { serverId, requestId };
  }

  function workflow(maxAttempts: number): ServerCreateWorkflow {
    const answer = async (hostId: string, spec: InstanceSpec): Promise<InstanceStatus> => {
      calls.push({ op: 'spawn', hostId });
      const next = answers.shift() ?? 'ok';
      if (next === 'fail') throw new InternalError(`cannot create the instance directory on ${hostId}`);
      if (next === 'timeout') throw new TimeoutError('no answer');
      return { serverId: spec.serverId, powerState: PowerState.Running, pid: 4242 };
    };
    const agents = {
      spawn: (hostId: string, spec: InstanceSpec) => answer(hostId, spec),
      destroy: async (hostId: string, serverId: string) => {
        calls.push({ op: 'destroy', hostId });
        return { serverId, destroyed: false };
      },
    } as unknown as AgentClient;
    const specs = {
      build: async (s: ServerEntity): Promise<InstanceSpec> => ({ serverId: s.id, vcpus: s.flavor.vcpus, ramMb: s.flavor.ramMb, diskGb: s.flavor.diskGb }),
    } as unknown as InstanceSpecBuilder;
    const placement = new PlacementService(db, { NUBO_SCHEDULER_HOST_CACHE_MS: 0 });
    const retry = new AgentRetry(db);
    retry.policy = { firstDelayMs: 1, maxDelayMs: 1, giveUpAfterMs: -1, watchMs: 50 };
    const inputs = new PlacementInputBuilder(db, {} as RpcClient);
    const reschedule = new CreateReschedule(db, placement, { NUBO_SCHEDULER_MAX_ATTEMPTS: maxAttempts });
    return new ServerCreateWorkflow(db, placement, agents, new ServerFaults(db, placement), specs, retry, inputs, reschedule, {} as RpcClient);
  }

  const job = (serverId: string) => ({ id: `server.create-${serverId}`, attemptsMade: 0, opts: { attempts: 8 } }) as unknown as Job;
  const server = async (id: string) =>
    (await db.query(`SELECT vm_state, task_state, host_id, fault FROM compute.servers WHERE id = $1`, [id]))[0];
  const allocations = async (id: string) =>
    (await db.query(`SELECT host_id FROM compute.allocations WHERE consumer_id = $1 ORDER BY host_id`, [id])).map((r: { host_id: string }) => r.host_id);
  const failures = async (id: string) =>
    db.query(`SELECT host_id, failure FROM compute.placement_decisions WHERE server_id = $1 AND failed_at IS NOT NULL ORDER BY id`, [id]);
  const recentFailures = async (host: string) => (await db.query(`SELECT recent_failures FROM compute.hosts WHERE id = $1`, [host]))[0].recent_failures;
  const usedRam = async (host: string) => (await db.query(`SELECT used_ram_mb FROM compute.hosts WHERE id = $1`, [host]))[0].used_ram_mb;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'reschedule-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.allocations WHERE host_id LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = $1`, [project]);
    await db.query(`DELETE FROM compute.servers WHERE project_id = $1`, [project]);
    await db.query(`DELETE FROM compute.aggregates WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id LIKE $1`, [`it-${tag}-%`]);
    await db.destroy();
  });

  beforeEach(() => {
    answers = [];
    calls = [];
  });

  it('builds the server on another host when the first answers its spawn with an error', async () => {
    const { zone } = await zoneWithHosts(2);
    const { serverId, requestId } = await addServer(zone);
    answers = ['fail', 'ok'];
    await expect(workflow(3).run({ serverId, requestId }, job(serverId))).resolves.toBe('done');

    const [first, second] = calls.filter((c) => c.op === 'spawn').map((c) => c.hostId);
    expect(second).not.toBe(first);
    expect(calls).toEqual([
      { op: 'spawn', hostId: first },
      { op: 'destroy', hostId: first },
      { op: 'spawn', hostId: second },
    ]);
    expect(await server(serverId)).toMatchObject({ vm_state: VmState.Active, task_state: null, host_id: second, fault: null });
    // The first claim is gone, from the allocations and from the host's counters.
    expect(await allocations(serverId)).toEqual([second]);
    expect(await usedRam(first)).toBe(0);
    expect(await usedRam(second)).toBe(512);
    expect(await recentFailures(first)).toBe(1);
    expect(await recentFailures(second)).toBe(0);
    expect(await failures(serverId)).toEqual([{ host_id: first, failure: `cannot create the instance directory on ${first}` }]);
    // Both decisions are stored with the create's request id; the first carries its failure.
    const decisions = await db.query(
      `SELECT attempt, request_id, host_id, explanation->>'chosen' AS chosen, failed_at IS NOT NULL AS failed
         FROM compute.placement_decisions WHERE server_id = $1 ORDER BY id`,
      [serverId],
    );
    expect(decisions).toEqual([
      { attempt: 1, request_id: requestId, host_id: first, chosen: first, failed: true },
      { attempt: 2, request_id: requestId, host_id: second, chosen: second, failed: false },
    ]);
    // Both spawns are in the instance action's events.
    const events = await db.query(
      `SELECT e.host, e.result FROM compute.instance_action_events e JOIN compute.instance_actions a ON a.id = e.action_id
        WHERE a.server_id = $1 ORDER BY e.id`,
      [serverId],
    );
    expect(events).toEqual([
      { host: first, result: 'Error' },
      { host: second, result: 'Success' },
    ]);
  });

  it('goes to ERROR naming the attempts once NUBO_SCHEDULER_MAX_ATTEMPTS spawns failed, holding nothing', async () => {
    const { zone, hosts } = await zoneWithHosts(3);
    const { serverId } = await addServer(zone);
    answers = ['fail', 'fail', 'fail'];
    await expect(workflow(2).run({ serverId, requestId: 'r' }, job(serverId))).resolves.toBe('failed');

    const tried = calls.filter((c) => c.op === 'spawn').map((c) => c.hostId);
    expect(tried).toHaveLength(2);
    expect(new Set(tried).size).toBe(2);
    const row = await server(serverId);
    expect(row).toMatchObject({ vm_state: VmState.Error, task_state: null, host_id: null });
    expect(row.fault.message).toBe(
      `Exceeded maximum number of retries. Exceeded max scheduling attempts 2 for instance ${serverId}. Last exception: cannot create the instance directory on ${tried[1]}`,
    );
    expect(row.fault.details).toBe(tried.map((h, i) => `attempt ${i + 1} on ${h}: cannot create the instance directory on ${h}`).join('; '));
    expect(await allocations(serverId)).toEqual([]);
    for (const h of hosts) expect(await usedRam(h)).toBe(0);
  });

  it('goes to ERROR when no host is left to retry on', async () => {
    const { zone } = await zoneWithHosts(2);
    const { serverId } = await addServer(zone);
    answers = ['fail', 'fail'];
    await expect(workflow(3).run({ serverId, requestId: 'r' }, job(serverId))).resolves.toBe('failed');

    expect(calls.filter((c) => c.op === 'spawn')).toHaveLength(2);
    const row = await server(serverId);
    expect(row).toMatchObject({ vm_state: VmState.Error, host_id: null });
    expect(row.fault.message).toBe(`Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance ${serverId}.`);
    expect(row.fault.details).toMatch(
      /^attempt 1 on [^;]+; attempt 2 on [^;]+; No valid host was found\. There are not enough hosts available\. Filter RetryFilter removed the last 2 host\(s\): Retry: a spawn of this server already failed here$/,
    );
    expect(await allocations(serverId)).toEqual([]);
  });

  it('does not reschedule a spawn the agent did not answer: ERROR keeping the host and the claim', async () => {
    const { zone } = await zoneWithHosts(2);
    const { serverId } = await addServer(zone);
    answers = ['timeout'];
    await expect(workflow(3).run({ serverId, requestId: 'r' }, job(serverId))).resolves.toBe('failed');

    const [only] = calls.map((c) => c.hostId);
    expect(calls).toEqual([{ op: 'spawn', hostId: only }]);
    expect(await server(serverId)).toMatchObject({ vm_state: VmState.Error, host_id: only });
    expect(await allocations(serverId)).toEqual([only]);
    expect(await recentFailures(only)).toBe(0);
    expect(await failures(serverId)).toEqual([]);
  });

  it("resets a host's recent failures when a spawn there succeeds", async () => {
    const { zone, hosts } = await zoneWithHosts(1);
    await db.query(`UPDATE compute.hosts SET recent_failures = 2, last_failure_at = now() WHERE id = $1`, [hosts[0]]);
    const { serverId } = await addServer(zone);
    await expect(workflow(3).run({ serverId, requestId: 'r' }, job(serverId))).resolves.toBe('done');
    expect(await recentFailures(hosts[0])).toBe(0);
  });
});
