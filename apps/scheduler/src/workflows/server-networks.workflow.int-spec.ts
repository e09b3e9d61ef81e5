/**
 * server.create and server.delete of servers on tenant networks, against real PostgreSQL with a
 * scripted agent and a scripted network service (network.binding.*): the ports are bound to the
 * chosen host before spawn and the spawn gets their NICs; a bind failure fails the build like a
 * spawn failure (unbind, then reschedule or ERROR); delete unbinds after destroy and never gives
 * up on a network service that does not answer; a server without networks never calls it.
 */
import { Logger } from '@nestjs/common';
import { BoundPort, ConflictError, InstanceSpec, InstanceStatus, InternalError, PowerState, TaskState, TimeoutError, VmState } from '@nubo/contracts';
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
import { ServerDeleteWorkflow } from './server-delete.workflow';
import { ServerFaults } from './server-faults';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const flavor = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
const NET = '0b6c2b3e-7a51-4c43-9d1e-1f2a3b4c5d6e';
const PORT: BoundPort = {
  portId: 'a1b2c3d4-e5f6-4789-abcd-ef0123456789',
  networkId: NET,
  mac: 'fa:16:3e:12:34:56',
  mtu: 1450,
  fixedIps: ['10.0.0.5'],
  autoCreated: true,
};
const NIC = { mac: PORT.mac, tap: 'nt-a1b2c3d4e5f6', mtu: 1450 };
type Answer = 'ok' | 'fail' | 'conflict' | 'timeout';
type Call = { op: string; hostId?: string; nics?: unknown; request?: unknown };

run('servers on networks: create and delete workflows', () => {
  const tag = randomUUID().slice(0, 8);
  const project = `p-nw-${tag}`;
  let db: DataSource;
  let zones = 0;
  let agentAnswers: Answer[];
  let bindAnswers: Answer[];
  let unbindAnswers: Answer[];
  let calls: Call[];

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

  async function addServer(zone: string, networks: unknown[] | null): Promise<string> {
    const serverId = randomUUID();
    const requestId = `req-${serverId}`;
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, availability_zone, requested_networks)
       VALUES ($1, $2, 'u', $3, 'tiny', $4, $5, $6, $7, $8, $9, $10)`,
      [serverId, project, `it-${tag}-${serverId}`, flavor, VmState.Building, TaskState.Scheduling, PowerState.NoState, requestId, zone, networks && JSON.stringify(networks)],
    );
    await recordAction(db, { serverId, projectId: project, userId: 'u', action: 'create', requestId });
    return serverId;
  }

  function fail(answer: Answer, what: string): void {
    if (answer === 'fail') throw new InternalError(`${what} failed`);
    if (answer === 'conflict') throw new ConflictError(`Fixed IP 10.0.0.5 is already in use`);
    if (answer === 'timeout') throw new TimeoutError(`no reply to ${what}`);
  }

  const rpc = {
    call: async (subject: string, _op: unknown, request: { hostId?: string }) => {
      calls.push({ op: subject, hostId: request.hostId, request });
      if (subject === 'network.binding.bind') {
        fail(bindAnswers.shift() ?? 'ok', 'bind');
        return { ports: [PORT] };
      }
      if (subject === 'network.binding.unbind') {
        fail(unbindAnswers.shift() ?? 'ok', 'unbind');
        return { ports: 1 };
      }
      throw new Error(`unexpected rpc ${subject}`);
    },
  } as unknown as RpcClient;

  const agents = {
    spawn: async (hostId: string, spec: InstanceSpec): Promise<InstanceStatus> => {
      calls.push({ op: 'spawn', hostId, nics: spec.nics });
      fail(agentAnswers.shift() ?? 'ok', 'spawn');
      return { serverId: spec.serverId, powerState: PowerState.Running, pid: 4242 };
    },
    destroy: async (hostId: string, serverId: string) => {
      calls.push({ op: 'destroy', hostId });
      return { serverId, destroyed: true };
    },
  } as unknown as AgentClient;

  function workflows() {
    const specs = new InstanceSpecBuilder({} as RpcClient, {} as never, db);
    const placement = new PlacementService(db, { NUBO_SCHEDULER_HOST_CACHE_MS: 0 });
    const retry = new AgentRetry(db);
    retry.policy = { firstDelayMs: 1, maxDelayMs: 1, giveUpAfterMs: -1, watchMs: 50 };
    const inputs = new PlacementInputBuilder(db, {} as RpcClient);
    const reschedule = new CreateReschedule(db, placement, { NUBO_SCHEDULER_MAX_ATTEMPTS: 3 });
    const create = new ServerCreateWorkflow(db, placement, agents, new ServerFaults(db, placement), specs, retry, inputs, reschedule, rpc);
    const remove = new ServerDeleteWorkflow(db, placement, agents, retry, rpc);
    remove.networks.policy = { firstDelayMs: 1, maxDelayMs: 5, giveUpAfterMs: 10_000 };
    return { create, remove };
  }

  const job = (name: string, serverId: string, attemptsMade = 0) => ({ id: `${name}-${serverId}`, attemptsMade, opts: { attempts: 8 } }) as unknown as Job;
  const row = async (id: string) =>
    (await db.query(`SELECT vm_state, task_state, host_id, fault, nics, deleted_at FROM compute.servers WHERE id = $1`, [id]))[0];
  const allocations = async (id: string) =>
    (await db.query(`SELECT host_id FROM compute.allocations WHERE consumer_id = $1`, [id])).map((r: { host_id: string }) => r.host_id);
  const ops = () => calls.map((c) => `${c.op}${c.hostId ? `@${c.hostId}` : ''}`);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'server-networks-it', poolSize: 4 });
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
    agentAnswers = [];
    bindAnswers = [];
    unbindAnswers = [];
    calls = [];
  });

  describe('server.create', () => {
    it('builds a server without networks exactly as before: no network call, no NIC', async () => {
      const { zone } = await zoneWithHosts(1);
      const id = await addServer(zone, null);
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('done');
      expect(calls).toEqual([{ op: 'spawn', hostId: expect.any(String), nics: undefined }]);
      expect((await row(id)).nics).toBeNull();
    });

    it('binds the ports to the chosen host before spawn and spawns with their NICs', async () => {
      const { zone, hosts } = await zoneWithHosts(1);
      const id = await addServer(zone, [{ networkId: NET }]);
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('done');
      expect(ops()).toEqual([`network.binding.bind@${hosts[0]}`, `spawn@${hosts[0]}`]);
      expect(calls[0].request).toEqual({ serverId: id, projectId: project, hostId: hosts[0], requested: [{ networkId: NET }] });
      expect(calls[1].nics).toEqual([NIC]);
      expect(await row(id)).toMatchObject({ vm_state: VmState.Active, nics: [NIC] });
    });

    it('reschedules a bind the network service answered with an error, unbinding first', async () => {
      const { zone } = await zoneWithHosts(2);
      const id = await addServer(zone, [{ networkId: NET }]);
      bindAnswers = ['fail'];
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('done');
      const first = calls[0].hostId!;
      const second = calls.find((c) => c.op === 'spawn')!.hostId!;
      expect(second).not.toBe(first);
      expect(ops()).toEqual([`network.binding.bind@${first}`, `destroy@${first}`, 'network.binding.unbind', `network.binding.bind@${second}`, `spawn@${second}`]);
      expect(await allocations(id)).toEqual([second]);
    });

    it('does not reschedule a bind refused for the request itself: ERROR, unbound, claim released', async () => {
      const { zone } = await zoneWithHosts(2);
      const id = await addServer(zone, [{ networkId: NET, fixedIp: '10.0.0.5' }]);
      bindAnswers = ['conflict'];
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('failed');
      expect(ops().filter((o) => !o.startsWith('destroy'))).toEqual([`network.binding.bind@${calls[0].hostId}`, 'network.binding.unbind']);
      const r = await row(id);
      expect(r).toMatchObject({ vm_state: VmState.Error, host_id: null });
      expect(r.fault.message).toBe(`Binding the server's ports failed: Fixed IP 10.0.0.5 is already in use`);
      expect(await allocations(id)).toEqual([]);
    });

    it('lets the job ask again for a bind not answered (same host, claim kept), and fails on the last attempt', async () => {
      const { zone } = await zoneWithHosts(2);
      const id = await addServer(zone, [{ networkId: NET }]);
      bindAnswers = ['timeout', 'ok'];
      const { create } = workflows();
      await expect(create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).rejects.toThrow(TimeoutError);
      const host = calls[0].hostId!;
      expect(await row(id)).toMatchObject({ vm_state: VmState.Building, task_state: TaskState.Spawning, host_id: host });
      await expect(create.run({ serverId: id, requestId: 'r' }, job('server.create', id, 1))).resolves.toBe('done');
      expect(ops()).toEqual([`network.binding.bind@${host}`, `network.binding.bind@${host}`, `spawn@${host}`]);

      const other = await addServer(zone, [{ networkId: NET }]);
      calls = [];
      bindAnswers = ['timeout'];
      await expect(create.run({ serverId: other, requestId: 'r' }, job('server.create', other, 7))).resolves.toBe('failed');
      expect(ops()).toEqual([`network.binding.bind@${calls[0].hostId}`, `destroy@${calls[0].hostId}`, 'network.binding.unbind']);
      expect(await row(other)).toMatchObject({ vm_state: VmState.Error, host_id: null });
    });

    it('unbinds before rescheduling a spawn the agent answered with an error', async () => {
      const { zone } = await zoneWithHosts(2);
      const id = await addServer(zone, [{ portId: PORT.portId }]);
      agentAnswers = ['fail'];
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('done');
      const [first, second] = calls.filter((c) => c.op === 'spawn').map((c) => c.hostId);
      expect(ops()).toEqual([
        `network.binding.bind@${first}`,
        `spawn@${first}`,
        `destroy@${first}`,
        'network.binding.unbind',
        `network.binding.bind@${second}`,
        `spawn@${second}`,
      ]);
    });

    it('goes to ERROR without rescheduling when the unbind after a failed spawn fails (no port bound on two hosts)', async () => {
      const { zone } = await zoneWithHosts(2);
      const id = await addServer(zone, [{ networkId: NET }]);
      agentAnswers = ['fail'];
      unbindAnswers = ['timeout'];
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('failed');
      expect(calls.filter((c) => c.op === 'network.binding.bind')).toHaveLength(1);
      expect(await row(id)).toMatchObject({ vm_state: VmState.Error, host_id: null });
      expect(await allocations(id)).toEqual([]);
    });

    it('keeps the ports bound when the agent did not answer the spawn (its QEMU may run there)', async () => {
      const { zone } = await zoneWithHosts(1);
      const id = await addServer(zone, [{ networkId: NET }]);
      agentAnswers = ['timeout'];
      await expect(workflows().create.run({ serverId: id, requestId: 'r' }, job('server.create', id))).resolves.toBe('failed');
      expect(calls.map((c) => c.op)).toEqual(['network.binding.bind', 'spawn']);
    });
  });

  describe('server.delete', () => {
    it('unbinds after destroy, asking again while the network service does not answer', async () => {
      const { zone, hosts } = await zoneWithHosts(1);
      const id = await addServer(zone, [{ networkId: NET }]);
      const { create, remove } = workflows();
      await create.run({ serverId: id, requestId: 'r' }, job('server.create', id));
      calls = [];
      unbindAnswers = ['timeout', 'timeout'];
      await expect(remove.run({ serverId: id, requestId: 'r' }, job('server.delete', id))).resolves.toBe('done');
      expect(ops()).toEqual([`destroy@${hosts[0]}`, 'network.binding.unbind', 'network.binding.unbind', 'network.binding.unbind']);
      expect((await row(id)).deleted_at).not.toBeNull();
      expect(await allocations(id)).toEqual([]);
    });

    it('leaves the server undeleted for the job to retry when the unbind answers an error', async () => {
      const { zone } = await zoneWithHosts(1);
      const id = await addServer(zone, [{ networkId: NET }]);
      const { create, remove } = workflows();
      await create.run({ serverId: id, requestId: 'r' }, job('server.create', id));
      unbindAnswers = ['fail'];
      await expect(remove.run({ serverId: id, requestId: 'r' }, job('server.delete', id))).rejects.toThrow('unbind failed');
      expect((await row(id)).deleted_at).toBeNull();
      await expect(remove.run({ serverId: id, requestId: 'r' }, job('server.delete', id))).resolves.toBe('done');
      expect((await row(id)).deleted_at).not.toBeNull();
    });

    it('never calls the network service for a server without networks', async () => {
      const { zone, hosts } = await zoneWithHosts(1);
      const id = await addServer(zone, null);
      const { create, remove } = workflows();
      await create.run({ serverId: id, requestId: 'r' }, job('server.create', id));
      calls = [];
      await expect(remove.run({ serverId: id, requestId: 'r' }, job('server.delete', id))).resolves.toBe('done');
      expect(ops()).toEqual([`destroy@${hosts[0]}`]);
    });
  });
});
