/**
 * server.snapshot against real PostgreSQL, with a scripted agent and image store: who owns the
 * image_snapshot task state, what the agent is told (a signed upload URL), and what a failure
 * leaves (task state cleared, image deleted, server untouched).
 */
import { Logger } from '@nestjs/common';
import {
  ImageOps,
  InternalError,
  NotFoundError,
  PowerState,
  RpcContract,
  SnapshotReply,
  SnapshotUpload,
  TaskState,
  TimeoutError,
  VmState,
  verifyCallerHeaders,
} from '@nubo/contracts';
import { createDataSource, migrateLocked, recordAction } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { AgentClient } from './agent-client';
import { ServerSnapshotWorkflow } from './server-snapshot.workflow';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;
const secret = 'it-secret-0123456789-0123456789-0123456789';

/** The image store, scripted: one image and its status; calls are recorded. */
class FakeImages {
  status = 'queued';
  calls: string[] = [];
  async call<Req, Res>(_subject: string, contract: RpcContract<Req, Res>, req: Req): Promise<Res> {
    this.calls.push(contract.op);
    if (this.status === 'deleted') throw new NotFoundError('No image found');
    if (contract.op === ImageOps.get.op) return { id: (req as { imageId: string }).imageId, status: this.status } as Res;
    if (contract.op === ImageOps.delete.op) {
      this.status = 'deleted';
      return { deleted: true } as Res;
    }
    throw new Error(`unexpected ${contract.op}`);
  }
}

run(ServerSnapshotWorkflow.name, () => {
  const tag = randomUUID().slice(0, 8);
  const hostId = `it-${tag}-h`;
  let db: DataSource;
  let images: FakeImages;
  let agentCalls: Array<{ hostId: string; serverId: string; imageId: string; upload: SnapshotUpload }>;
  let agentAnswer: () => Promise<SnapshotReply>;
  let workflow: ServerSnapshotWorkflow;

  const job = (attemptsMade = 0) => ({ id: `server.snapshot-${randomUUID()}`, attemptsMade, opts: { attempts: 8 } }) as unknown as Job;

  async function addServer(vmState = VmState.Active, taskState: TaskState | null = TaskState.ImageSnapshot): Promise<{ serverId: string; requestId: string; imageId: string }> {
    const serverId = randomUUID();
    const requestId = `req-${randomUUID()}`;
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id)
       VALUES ($1, 'p-snap', 'u', $2, '1', $3, $4, $5, $6, 'req', $7)`,
      [serverId, `it-${tag}-${serverId}`, { vcpus: 1, ramMb: 64, diskGb: 1, name: 't' }, vmState, taskState, PowerState.Running, hostId],
    );
    await recordAction(db, { serverId, projectId: 'p-snap', userId: 'u', action: 'createImage', requestId });
    return { serverId, requestId, imageId: randomUUID() };
  }

  const serverRow = async (id: string) =>
    (await db.query(`SELECT vm_state, task_state, power_state FROM compute.servers WHERE id = $1`, [id]))[0];
  const events = async (serverId: string, requestId: string) =>
    db.query(
      `SELECT e.event, e.result, e.host FROM compute.instance_action_events e JOIN compute.instance_actions a ON a.id = e.action_id
        WHERE a.server_id = $1 AND a.request_id = $2 ORDER BY e.id`,
      [serverId, requestId],
    );

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'snapshot-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, 'disabled', 'kvm', 4, 4096, 100, now(), now())`,
      [hostId],
    );
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = 'p-snap' AND server_id IN (SELECT id FROM compute.servers WHERE name LIKE $1)`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id = $1`, [hostId]);
    await db.destroy();
  });

  beforeEach(() => {
    images = new FakeImages();
    agentCalls = [];
    agentAnswer = async () => ({ serverId: '', imageId: '', sizeBytes: 1234, virtualSize: 2 ** 30 });
    const agents = {
      snapshot: async (h: string, serverId: string, imageId: string, upload: SnapshotUpload) => {
        agentCalls.push({ hostId: h, serverId, imageId, upload });
        return agentAnswer();
      },
    } as unknown as AgentClient;
    const config = { NUBO_IMAGE_INTERNAL_URL: 'http://127.0.0.1:8792', NUBO_INTERNAL_SECRET: secret } as SchedulerConfig;
    workflow = new ServerSnapshotWorkflow(db, agents, images as unknown as RpcClient, config);
  });

  it('has the agent upload to the image store, signed for the server project, then clears the task state', async () => {
    const s = await addServer();
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(agentCalls).toHaveLength(1);
    const { upload } = agentCalls[0];
    expect(agentCalls[0]).toMatchObject({ hostId, serverId: s.serverId, imageId: s.imageId });
    expect(upload.url).toBe(`http://127.0.0.1:8792/v2/images/${s.imageId}/file`);
    expect(verifyCallerHeaders(upload.headers, s.imageId, secret)).toEqual({ projectId: 'p-snap', isAdmin: false });
    // Signed for this image only.
    expect(verifyCallerHeaders(upload.headers, randomUUID(), secret)).toBeNull();
    expect(await serverRow(s.serverId)).toEqual({ vm_state: VmState.Active, task_state: null, power_state: PowerState.Running });
    expect(await events(s.serverId, s.requestId)).toEqual([{ event: 'compute_snapshot_instance', result: 'Success', host: hostId }]);
  });

  it('on an agent failure: clears the task state, deletes the image, keeps the server as it was', async () => {
    const s = await addServer(VmState.Stopped);
    agentAnswer = async () => {
      throw new InternalError('snapshot of x failed: qemu-img convert failed');
    };
    await expect(workflow.run(s, job())).resolves.toBe('failed');
    expect(images.status).toBe('deleted');
    expect(await serverRow(s.serverId)).toMatchObject({ vm_state: VmState.Stopped, task_state: null });
    expect(await events(s.serverId, s.requestId)).toEqual([{ event: 'compute_snapshot_instance', result: 'Error', host: hostId }]);
  });

  it('retries a timeout while attempts are left, and fails the last one', async () => {
    const s = await addServer();
    agentAnswer = async () => {
      throw new TimeoutError('no responders');
    };
    await expect(workflow.run(s, job(0))).rejects.toBeInstanceOf(TimeoutError);
    expect(await serverRow(s.serverId)).toMatchObject({ task_state: TaskState.ImageSnapshot });
    expect(images.status).toBe('queued');
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    expect(images.status).toBe('deleted');
  });

  it('counts a timeout as done when the agent finished the upload after all', async () => {
    const s = await addServer();
    agentAnswer = async () => {
      images.status = 'active';
      throw new TimeoutError('timed out');
    };
    await expect(workflow.run(s, job(7))).resolves.toBe('done');
    expect(images.status).toBe('active');
    expect(await serverRow(s.serverId)).toMatchObject({ task_state: null });
  });

  it('finishes without a new copy when an earlier run uploaded the image already', async () => {
    const s = await addServer();
    images.status = 'active';
    await expect(workflow.run(s, job(1))).resolves.toBe('done');
    expect(agentCalls).toEqual([]);
    expect(await serverRow(s.serverId)).toMatchObject({ task_state: null });
  });

  it('leaves a later action alone: a stale replay touches neither the server nor the agent', async () => {
    const s = await addServer();
    const later = `req-${randomUUID()}`;
    await recordAction(db, { serverId: s.serverId, projectId: 'p-snap', userId: 'u', action: 'createImage', requestId: later });
    await expect(workflow.run(s, job())).resolves.toBe('skipped');
    expect(agentCalls).toEqual([]);
    expect(await serverRow(s.serverId)).toMatchObject({ task_state: TaskState.ImageSnapshot });
    // Its own image never got data: it goes.
    expect(images.status).toBe('deleted');
  });

  it('skips a server deleted meanwhile and drops its queued image', async () => {
    const s = await addServer(VmState.Active, TaskState.Deleting);
    await expect(workflow.run(s, job())).resolves.toBe('skipped');
    expect(agentCalls).toEqual([]);
    expect(images.status).toBe('deleted');
    expect(await serverRow(s.serverId)).toMatchObject({ task_state: TaskState.Deleting });
  });
});
