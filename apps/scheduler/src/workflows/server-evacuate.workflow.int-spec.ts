/**
 * server.evacuate against real PostgreSQL with the agents and the network service scripted: the
 * request's checks (host up: 400; one open evacuation per server), the claims (the failed host's
 * claim dropped and the new one the server's at once), the calls made, a re-run that changes
 * nothing, no capacity (nothing moves), a stopped server that stays stopped, a spawn failure.
 */
import { Logger } from '@nestjs/common';
import { InternalError, NotFoundError, PowerState, TaskState, TimeoutError, ValidationError, VmState } from '@nubo/contracts';
import { ServerEntity, createDataSource, getEvacuation, migrateLocked, requestEvacuation } from '@nubo/database';
import { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { EvacuationService } from '../failover/evacuation.service';
import { usageDrift } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { AgentClient } from './agent-client';
import { AgentRetry } from './agent-retry';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { EvacuateClaims } from './server-evacuate-claims';
import { EvacuationNetwork } from './server-evacuate-network';
import { ServerEvacuateWorkflow } from './server-evacuate.workflow';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const flavor = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
type Call = { op: string; hostId: string };

run('ServerEvacuateWorkflow', () => {
  const tag = randomUUID().slice(0, 8);
  const down = `it-${tag}-down`;
  const dst = `it-${tag}-dst`;
  const hosts = [down, dst];
  let db: DataSource;
  let calls: Call[];
  let spawnError: Error | undefined;
  let commitError: Error | undefined;
  let workflow: ServerEvacuateWorkflow;
  let evacuations: EvacuationService;
  let queued: Array<{ name: string; payload: Record<string, unknown>; jobId: string }>;

  const job = (attemptsMade = 0, attempts = 5) => ({ id: `job-${randomUUID()}`, attemptsMade, opts: { attempts } }) as unknown as Job;
  const short = (h: string) => (h === down ? 'down' : h === dst ? 'dst' : h);

  async function server(o: { vmState?: VmState; nics?: boolean } = {}) {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id, image_ref, metadata)
       VALUES ($1, 'p-ev', 'u', $2, 'tiny', $3, $4, NULL, $5, 'req', $6, 'img-1', $7)`,
      [id, `it-${tag}-${id}`, flavor, o.vmState ?? VmState.Active, o.vmState === VmState.Stopped ? 'shutdown' : 'running', down, o.nics ? { 'it:nics': '1' } : {}],
    );
    await db.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 1, 512, 1)`, [id, down]);
    await db.query(`UPDATE compute.hosts SET used_vcpus = used_vcpus + 1, used_ram_mb = used_ram_mb + 512, used_disk_gb = used_disk_gb + 1, instances = instances + 1 WHERE id = $1`, [down]);
    return id;
  }

  const row = async (id: string) => (await db.query(`SELECT host_id, vm_state, task_state, power_state FROM compute.servers WHERE id = $1`, [id]))[0];
  const held = async (serverId: string, migrationId: string) =>
    (
      await db.query(`SELECT consumer_id, host_id FROM compute.allocations WHERE consumer_id IN ($1, $2) ORDER BY consumer_id`, [serverId, migrationId])
    ).map((r: { consumer_id: string; host_id: string }) => `${r.consumer_id === serverId ? 'server' : 'migration'}@${short(r.host_id)}`);
  const ops = () => calls.map((c) => `${c.op}@${short(c.hostId)}`);
  const events = async (serverId: string) =>
    (
      await db.query(
        `SELECT e.event, e.result, e.details FROM compute.instance_action_events e JOIN compute.instance_actions a ON a.id = e.action_id
          WHERE a.server_id = $1 ORDER BY e.id`,
        [serverId],
      )
    ).map((r: { event: string; result: string; details: string | null }) => `${r.event}:${r.result}${r.details ? `:${r.details}` : ''}`);

  async function evacuate(serverId: string) {
    // The new host named (filters still run): other suites' hosts in the shared database never take it.
    const ticket = await evacuations.evacuate(serverId, { reason: 'test', requestedHost: dst });
    const payload = queued[queued.length - 1].payload as { serverId: string; requestId: string; migrationId: string };
    return { ticket, payload };
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'evacuate-it', poolSize: 6 });
    await db.initialize();
    await migrateLocked(db);
    for (const [id, state] of [
      [down, 'down'],
      [dst, 'up'],
    ] as const) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at, underlay_ip)
         VALUES ($1, $2, 'kvm', 1024, 1048576, 100000, now(), now(), '10.98.0.1')`,
        [id, state],
      );
    }
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.allocations WHERE host_id = ANY($1)`, [hosts]);
    await db.query(`DELETE FROM compute.migrations WHERE source_host = ANY($1)`, [hosts]);
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = 'p-ev'`);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id = ANY($1)`, [hosts]);
    await db.destroy();
  });

  beforeEach(async () => {
    calls = [];
    queued = [];
    spawnError = undefined;
    commitError = undefined;
    await db.query(`UPDATE compute.hosts SET state = 'up' WHERE id = $1`, [dst]);
    await db.query(`UPDATE compute.hosts SET state = 'down' WHERE id = $1`, [down]);
    const agents = {
      spawn: async (h: string, spec: { serverId: string }) => {
        calls.push({ op: 'spawn', hostId: h });
        if (spawnError) throw spawnError;
        return { serverId: spec.serverId, powerState: PowerState.Running };
      },
      stop: async (h: string, serverId: string) => {
        calls.push({ op: 'stop', hostId: h });
        return { serverId, powerState: PowerState.Shutdown };
      },
      destroy: async (h: string, _serverId: string, _ctx: unknown, o: { deleteSharedDisks?: boolean } = {}) => {
        calls.push({ op: o.deleteSharedDisks ? 'destroy+shared' : 'destroy', hostId: h });
        return {};
      },
    } as unknown as AgentClient;
    const network = {
      call: async (step: string, _serverId: string, h: string) => {
        calls.push({ op: `network-${step}`, hostId: h });
        if (step === 'commit' && commitError) {
          const error = commitError;
          commitError = undefined;
          throw error;
        }
        return { ports: 1 };
      },
    } as unknown as EvacuationNetwork;
    const inputs = {
      build: async (s: ServerEntity) => ({
        attempt: 1,
        input: { projectId: s.projectId, ...flavor, extraSpecs: {}, imageProperties: {}, availabilityZone: null, forcedHost: null, excludedHosts: [] },
      }),
    } as unknown as PlacementInputBuilder;
    const nic = { mac: 'fa:16:3e:00:00:01', tap: 'tap-it' };
    const specs = { build: async (s: ServerEntity) => ({ serverId: s.id, ...(s.metadata?.['it:nics'] ? { nics: [nic] } : {}) }) } as unknown as InstanceSpecBuilder;
    const placement = new PlacementService(db, { NUBO_SCHEDULER_HOST_CACHE_MS: 0 });
    workflow = new ServerEvacuateWorkflow(db, new EvacuateClaims(db, placement, {}), agents, new AgentRetry(db), inputs, specs, network);
    const queue = {
      enqueue: async (name: string, payload: Record<string, unknown>, o: { jobId: string }) => {
        queued.push({ name, payload, jobId: o.jobId });
      },
    };
    evacuations = new EvacuationService(db, undefined, queue as never);
  });

  afterEach(async () => {
    expect(await usageDrift(db, `h.id IN ('${down}', '${dst}')`)).toEqual([]);
  });

  it('rebuilds the server on another host and moves host and claims at once', async () => {
    const id = await server({ nics: true });
    const { ticket, payload } = await evacuate(id);
    expect(queued.map((q) => [q.name, q.jobId])).toEqual([['server.evacuate', `server.evacuate-${id}-${ticket.migrationId}`]]);
    expect(await row(id)).toMatchObject({ host_id: down, task_state: TaskState.Rebuilding });

    expect(await workflow.run(payload as never, job())).toBe('done');

    expect(ops()).toEqual(['network-prepare@dst', 'spawn@dst', 'network-commit@dst']);
    expect(await row(id)).toEqual({ host_id: dst, vm_state: 'active', task_state: null, power_state: 'running' });
    expect(await held(id, ticket.migrationId)).toEqual(['server@dst']);
    const m = await getEvacuation(db, ticket.migrationId);
    expect(m).toMatchObject({ status: 'done', sourceHost: down, destHost: dst });
    expect(await events(id)).toEqual([
      'conductor_rebuild_server:Success',
      'compute_rebuild_instance:Success',
      `compute_evacuate_disk:Success:Evacuated from ${down}: local disk lost, rebuilt from image img-1`,
    ]);
  });

  it('changes nothing when the job runs again', async () => {
    const id = await server();
    const { ticket, payload } = await evacuate(id);
    expect(await workflow.run(payload as never, job())).toBe('done');
    calls = [];
    expect(await workflow.run(payload as never, job(1))).toBe('skipped');
    expect(calls).toEqual([]);
    expect(await held(id, ticket.migrationId)).toEqual(['server@dst']);
    expect(await row(id)).toMatchObject({ host_id: dst, task_state: null });
  });

  it('resumes after the last step persisted, without spawning again', async () => {
    const id = await server({ nics: true });
    const { ticket, payload } = await evacuate(id);
    commitError = new TimeoutError('network service did not answer');
    // The first run: spawned, then the ports' commit is not answered; the job will be retried.
    await expect(workflow.run(payload as never, job(0, 5))).rejects.toThrow('network service did not answer');
    expect((await getEvacuation(db, ticket.migrationId))?.state.step).toBe('spawned');
    expect(await row(id)).toMatchObject({ host_id: down, task_state: TaskState.Rebuilding });
    calls = [];
    expect(await workflow.run(payload as never, job(1, 5))).toBe('done');
    expect(ops()).toEqual(['network-commit@dst']);
    expect(await row(id)).toMatchObject({ host_id: dst, task_state: null });
    expect(await held(id, ticket.migrationId)).toEqual(['server@dst']);
  });

  it('returns the open evacuation when asked again (one per server)', async () => {
    const id = await server();
    const first = await evacuate(id);
    const second = await evacuate(id);
    expect(second.ticket).toEqual({ migrationId: first.ticket.migrationId, created: false });
    expect(queued.map((q) => q.jobId)).toEqual([`server.evacuate-${id}-${first.ticket.migrationId}`, `server.evacuate-${id}-${first.ticket.migrationId}`]);
    expect(await db.query(`SELECT 1 FROM compute.migrations WHERE server_id = $1`, [id])).toHaveLength(1);
    expect(await workflow.run(first.payload as never, job())).toBe('done');
  });

  it('fails with NoValidHost and moves nothing when no host can take the server', async () => {
    const id = await server();
    const { ticket, payload } = await evacuate(id);
    await db.query(`UPDATE compute.hosts SET ram_mb = 256 WHERE id = $1`, [dst]);
    try {
      expect(await workflow.run(payload as never, job())).toBe('failed');
    } finally {
      await db.query(`UPDATE compute.hosts SET ram_mb = 1048576 WHERE id = $1`, [dst]);
    }
    expect(calls).toEqual([]);
    expect(await row(id)).toEqual({ host_id: down, vm_state: 'active', task_state: null, power_state: 'running' });
    expect(await held(id, ticket.migrationId)).toEqual(['server@down']);
    const m = await getEvacuation(db, ticket.migrationId);
    expect(m?.status).toBe('error');
    expect(m?.state.outcome).toMatch(/RAM|ram|memory/);
  });

  it('keeps a stopped server stopped on its new host', async () => {
    const id = await server({ vmState: VmState.Stopped });
    const { ticket, payload } = await evacuate(id);
    expect(await workflow.run(payload as never, job())).toBe('done');
    expect(ops()).toEqual(['spawn@dst', 'stop@dst']);
    expect(await row(id)).toEqual({ host_id: dst, vm_state: 'stopped', task_state: null, power_state: 'shutdown' });
    expect(await held(id, ticket.migrationId)).toEqual(['server@dst']);
  });

  it('puts the server in ERROR on its old host when the new host refuses the spawn, shared disks kept', async () => {
    const id = await server({ nics: true });
    spawnError = new InternalError('qemu exited');
    const { ticket, payload } = await evacuate(id);
    expect(await workflow.run(payload as never, job())).toBe('failed');
    expect(ops()).toEqual(['network-prepare@dst', 'spawn@dst', 'destroy@dst', 'network-abort@dst']);
    expect(await row(id)).toMatchObject({ host_id: down, vm_state: 'error', task_state: null });
    expect(await held(id, ticket.migrationId)).toEqual(['server@down']);
    expect((await getEvacuation(db, ticket.migrationId))?.status).toBe('failed');
  });

  it('refuses while the host is up, and a host that does not exist', async () => {
    const id = await server();
    await db.query(`UPDATE compute.hosts SET state = 'up' WHERE id = $1`, [down]);
    const ask = (requestedHost: string | null) =>
      requestEvacuation(db, { id: randomUUID(), serverId: id, requestedHost, force: false, reason: 't', userId: 'u', requestId: `r-${randomUUID()}` });
    await expect(ask(null)).rejects.toThrow(new ValidationError(`Compute service of ${down} is still in use.`));
    await expect(ask('nowhere')).rejects.toThrow(new NotFoundError('Compute host nowhere not found.'));
    await expect(ask(down)).rejects.toThrow("The target host can't be the same one.");
    expect(await row(id)).toMatchObject({ task_state: null });
    expect(await db.query(`SELECT 1 FROM compute.migrations WHERE server_id = $1`, [id])).toEqual([]);
    // An admin's force-down (os-services) says the service is down whatever the host's state.
    await db.query(`UPDATE compute.hosts SET forced_down = true WHERE id = $1`, [down]);
    try {
      await expect(ask(null)).resolves.toMatchObject({ created: true, record: { status: 'accepted', sourceHost: down } });
    } finally {
      await db.query(`UPDATE compute.hosts SET forced_down = false WHERE id = $1`, [down]);
    }
  });
});
