/**
 * createImage and os-getConsoleOutput, API side, against real PostgreSQL with a scripted image
 * store, agent and job queue: what is created, claimed and enqueued, and what is taken back.
 */
import { Logger } from '@nestjs/common';
import {
  AgentOps,
  ConflictError,
  ImageOps,
  NotFoundError,
  PowerState,
  QuotaExceededError,
  RpcContract,
  TaskState,
  TimeoutError,
  VmState,
} from '@nubo/contracts';
import { createDataSource, migrateLocked, ServerEntity } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { QuotaService } from './quotas/quota.service';
import { ServerConsoleService } from './server-console.service';
import { ServerSnapshotService } from './server-snapshot.service';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

/** NATS, scripted: the image store's create/get/delete and the agent's console log. */
class FakeRpc {
  calls: Array<{ subject: string; op: string; req: any }> = [];
  created: string[] = [];
  deleted: string[] = [];
  baseProperties: Record<string, string> = { hypervisor_type: 'qemu' };
  console: (req: any) => Promise<{ output: string }> = async () => ({ output: 'NUBO-GUEST: booted\n' });

  async call<Req, Res>(subject: string, contract: RpcContract<Req, Res>, req: Req): Promise<Res> {
    this.calls.push({ subject, op: contract.op, req });
    const r = req as any;
    switch (contract.op) {
      case ImageOps.get.op:
        return { id: r.imageId, status: 'active', diskFormat: 'qcow2', minDisk: 0, minRam: 0, properties: this.baseProperties } as Res;
      case ImageOps.create.op: {
        const id = randomUUID();
        this.created.push(id);
        return { id, status: 'queued' } as Res;
      }
      case ImageOps.delete.op:
        this.deleted.push(r.imageId);
        return { deleted: true } as Res;
      case AgentOps.consoleLog.op:
        return (await this.console(r)) as Res;
    }
    throw new Error(`unexpected ${contract.op}`);
  }
}

run(`${ServerSnapshotService.name} and ${ServerConsoleService.name} (PostgreSQL)`, () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  const hostId = `${tag}-h`;
  let db: DataSource;
  let rpc: FakeRpc;
  let enqueued: Array<{ name: string; payload: any; jobId: string }>;
  let queueDown: boolean;
  let snapshots: ServerSnapshotService;
  let consoles: ServerConsoleService;
  const auth = { userId: `${tag}-u`, projectId: `${tag}-p`, isAdmin: false, roles: [] } as unknown as AuthContext;

  async function addServer(o: { vmState?: VmState; taskState?: TaskState | null; imageRef?: string | null; hostId?: string | null } = {}): Promise<ServerEntity> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id, image_ref)
       VALUES ($1, $2, 'u', $3, '1', $4, $5, $6, $7, 'req', $8, $9)`,
      [id, auth.projectId, `${tag}-${id}`, { vcpus: 1, ramMb: 512, diskGb: 1, name: 'm1.tiny' }, o.vmState ?? VmState.Active,
        o.taskState ?? null, PowerState.Running, o.hostId === undefined ? hostId : o.hostId, o.imageRef === undefined ? randomUUID() : o.imageRef],
    );
    return (await db.getRepository(ServerEntity).findOneBy({ id }))!;
  }
  const row = async (id: string) => (await db.query(`SELECT task_state, vm_state FROM compute.servers WHERE id = $1`, [id]))[0];
  const actions = async (id: string) => db.query(`SELECT action, request_id FROM compute.instance_actions WHERE server_id = $1`, [id]);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['identity', 'compute'], applicationName: 'snapshot-api-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, 'disabled', 'kvm', 4, 4096, 100, now(), now())`,
      [hostId],
    );
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.servers WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.quota_limits WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.hosts WHERE id = $1`, [hostId]);
    await db.destroy();
  });

  beforeEach(() => {
    rpc = new FakeRpc();
    enqueued = [];
    queueDown = false;
    const jobs = {
      enqueue: async (name: string, payload: unknown, options: { jobId: string }) => {
        if (queueDown) throw new Error('redis is down');
        enqueued.push({ name, payload, jobId: options.jobId });
      },
    } as unknown as JobQueue;
    snapshots = new ServerSnapshotService(db, jobs, rpc as unknown as RpcClient, new QuotaService(db));
    consoles = new ServerConsoleService(rpc as unknown as RpcClient);
  });

  describe('createImage', () => {
    it.each([VmState.Active, VmState.Stopped, VmState.Paused, VmState.Suspended])(
      'from %s: makes the image in the server project, claims image_snapshot, records the action and enqueues the job',
      async (vmState) => {
        const server = await addServer({ vmState });
        const imageId = await snapshots.createImage(server, { name: 'snap', metadata: { purpose: 'test' } }, auth, `req-${vmState}`);
        const create = rpc.calls.find((c) => c.op === ImageOps.create.op)!;
        expect(create.req.caller).toEqual({ projectId: auth.projectId, isAdmin: false });
        expect(create.req.body).toMatchObject({ name: 'snap', disk_format: 'qcow2', container_format: 'bare', image_type: 'snapshot', instance_uuid: server.id, purpose: 'test', hypervisor_type: 'qemu' });
        expect(await row(server.id)).toEqual({ task_state: TaskState.ImageSnapshot, vm_state: vmState });
        expect(await actions(server.id)).toEqual([{ action: 'createImage', request_id: `req-${vmState}` }]);
        expect(enqueued).toEqual([{ name: 'server.snapshot', payload: { serverId: server.id, requestId: `req-${vmState}`, imageId }, jobId: `server.snapshot-${server.id}-req-${vmState}` }]);
      },
    );

    it.each([
      ['building', { vmState: VmState.Building }, /vm_state building/],
      ['in error', { vmState: VmState.Error }, /vm_state error/],
      ['busy with another task', { taskState: TaskState.PoweringOff }, /task_state powering-off/],
      ['without a disk of its own', { imageRef: null }, /no disk of its own/],
    ])('refuses a server %s with 409, creating nothing', async (_what, o, message) => {
      const server = await addServer(o);
      const error = await snapshots.createImage(server, { name: 'snap', metadata: {} }, auth, 'req').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toMatch(message);
      expect(rpc.created).toEqual([]);
      expect(enqueued).toEqual([]);
    });

    it('lets one of two concurrent snapshots through and deletes the loser image', async () => {
      const server = await addServer();
      const results = await Promise.allSettled([
        snapshots.createImage(server, { name: 'a', metadata: {} }, auth, 'req-a'),
        snapshots.createImage(server, { name: 'b', metadata: {} }, auth, 'req-b'),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const loser = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      expect(loser.reason).toBeInstanceOf(ConflictError);
      expect(rpc.created).toHaveLength(2);
      expect(rpc.deleted).toHaveLength(1);
      expect(rpc.deleted[0]).not.toBe((results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<string>).value);
      expect(await actions(server.id)).toHaveLength(1);
    });

    it('gives the task state back and deletes the image when the job cannot be queued', async () => {
      const server = await addServer();
      queueDown = true;
      await expect(snapshots.createImage(server, { name: 'snap', metadata: {} }, auth, 'req')).rejects.toBeInstanceOf(TimeoutError);
      expect(await row(server.id)).toMatchObject({ task_state: null });
      expect(rpc.deleted).toEqual(rpc.created);
    });

    it('answers 403 past the metadata_items quota', async () => {
      await new QuotaService(db).update(auth.projectId, { values: { metadata_items: 1 }, force: false }, 'admin');
      const server = await addServer();
      const error = await snapshots.createImage(server, { name: 'snap', metadata: { a: '1', b: '2' } }, auth, 'req').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect((error as Error).message).toBe('Image metadata limit exceeded');
      expect(rpc.created).toEqual([]);
      await db.query(`DELETE FROM compute.quota_limits WHERE project_id = $1`, [auth.projectId]);
    });
  });

  describe('console output', () => {
    it('asks the server host for the tail, with a deadline, and answers its output', async () => {
      const server = await addServer({ vmState: VmState.Stopped });
      await expect(consoles.output(server, 5, 'req-c')).resolves.toBe('NUBO-GUEST: booted\n');
      const call = rpc.calls.find((c) => c.op === AgentOps.consoleLog.op)!;
      expect(call.subject).toBe(`agent.${hostId}.server.console-log`);
      expect(call.req).toMatchObject({ serverId: server.id, lines: 5 });
      expect(call.req.deadline).toBeGreaterThan(Date.now());
      await consoles.output(server, undefined, 'req-d');
      expect(rpc.calls.at(-1)!.req).not.toHaveProperty('lines');
    });

    it('answers 409 for a server with no host yet', async () => {
      const server = await addServer({ vmState: VmState.Building, hostId: null });
      await expect(consoles.output(server, undefined, 'req')).rejects.toThrow(ConflictError);
      expect(rpc.calls).toEqual([]);
    });

    it('answers 404 as Nova does when the host has nothing of the server', async () => {
      rpc.console = async () => {
        throw new NotFoundError('server x is not on this host');
      };
      const server = await addServer();
      await expect(consoles.output(server, undefined, 'req')).rejects.toThrow('Guest does not have a console available.');
    });
  });
});
