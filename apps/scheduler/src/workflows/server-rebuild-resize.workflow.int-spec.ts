/**
 * server.rebuild and server.resize (resize, confirm, revert) against real PostgreSQL with a
 * scripted agent: the states each step leaves (server row, migration record, allocations), what
 * the agent is told, and what failures leave (the resize undone on the host and in placement, or
 * ERROR when even that fails; a rebuild's failure is ERROR).
 */
import { Logger } from '@nestjs/common';
import { InstanceSpec, InstanceStatus, InternalError, PowerState, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { MigrationRecord, ServerEntity, createDataSource, getMigration, insertMigration, migrateLocked, recordAction } from '@nubo/database';
import { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { PlacementService } from '../placement/placement.service';
import { ResizeClaims } from '../placement/resize-claims';
import { AgentClient } from './agent-client';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { ServerFaults } from './server-faults';
import { ServerRebuildWorkflow } from './server-rebuild.workflow';
import { ServerResizeFinishWorkflow } from './server-resize-finish.workflow';
import { ServerResizeWorkflow } from './server-resize.workflow';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const tiny = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
const big = { vcpus: 2, ramMb: 1024, diskGb: 2, name: 'big' };

type Call = { op: string; hostId: string; serverId: string; spec?: InstanceSpec; powerOn?: boolean };

run('rebuild and resize workflows', () => {
  const tag = randomUUID().slice(0, 8);
  const hostId = `it-${tag}-h`;
  let db: DataSource;
  let calls: Call[];
  /** What the scripted agent does next, per operation (default: succeed). */
  let script: Record<string, Array<() => Promise<InstanceStatus>>>;
  let resize: ServerResizeWorkflow;
  let rebuild: ServerRebuildWorkflow;

  const job = (name: string, attemptsMade = 0) => ({ id: `${name}-${randomUUID()}`, attemptsMade, opts: { attempts: 8 } }) as unknown as Job;

  async function addServer(o: { vmState?: VmState; taskState: TaskState; action: string; powerState?: PowerState }) {
    const serverId = randomUUID();
    const requestId = `req-${randomUUID()}`;
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id, image_ref)
       VALUES ($1, 'p-rr', 'u', $2, 'tiny', $3, $4, $5, $6, 'req', $7, NULL)`,
      [serverId, `it-${tag}-${serverId}`, tiny, o.vmState ?? VmState.Active, o.taskState, o.powerState ?? PowerState.Running, hostId],
    );
    await db.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 1, 512, 1)`, [serverId, hostId]);
    // As a claim leaves it: the host's usage counters hold what its allocations hold.
    await db.query(
      `UPDATE compute.hosts SET used_vcpus = used_vcpus + 1, used_ram_mb = used_ram_mb + 512, used_disk_gb = used_disk_gb + 1, instances = instances + 1 WHERE id = $1`,
      [hostId],
    );
    await recordAction(db, { serverId, projectId: 'p-rr', userId: 'u', action: o.action, requestId });
    return { serverId, requestId };
  }

  async function resizing(vmState = VmState.Active) {
    const s = await addServer({ vmState, taskState: TaskState.ResizePrep, action: 'resize', powerState: vmState === VmState.Stopped ? PowerState.Shutdown : PowerState.Running });
    const m: MigrationRecord = {
      id: randomUUID(), serverId: s.serverId, projectId: 'p-rr', migrationType: 'resize', status: 'pre-migrating', sourceHost: hostId, destHost: hostId,
      oldFlavorId: 'tiny', oldFlavor: tiny, newFlavorId: 'big', newFlavor: big, oldVmState: vmState, requestId: s.requestId,
    };
    await insertMigration(db, m);
    return { ...s, migrationId: m.id, step: 'resize' as const };
  }

  /** The server in VERIFY_RESIZE, and the job data of its confirm or revert. */
  async function verifying(step: 'confirm' | 'revert', vmState = VmState.Active) {
    const s = await resizing(vmState);
    await expect(resize.run(s, job('server.resize'))).resolves.toBe('done');
    const requestId = `req-${randomUUID()}`;
    await recordAction(db, { serverId: s.serverId, projectId: 'p-rr', userId: 'u', action: step === 'confirm' ? 'confirmResize' : 'revertResize', requestId });
    const task = step === 'confirm' ? TaskState.ResizeConfirming : TaskState.ResizeReverting;
    await db.query(`UPDATE compute.servers SET task_state = $2 WHERE id = $1`, [s.serverId, task]);
    await db.query(`UPDATE compute.migrations SET status = $2 WHERE id = $1`, [s.migrationId, step === 'confirm' ? 'confirming' : 'reverting']);
    calls.length = 0;
    return { serverId: s.serverId, requestId, migrationId: s.migrationId, step };
  }

  const row = async (id: string) =>
    (await db.query(`SELECT vm_state, task_state, power_state, flavor_id, fault FROM compute.servers WHERE id = $1`, [id]))[0];
  const held = async (s: { serverId: string; migrationId: string }) =>
    db.query(
      `SELECT CASE WHEN consumer_id = $1 THEN 'server' ELSE 'migration' END AS consumer, vcpus, ram_mb FROM compute.allocations
        WHERE consumer_id IN ($1, $2) ORDER BY 1`,
      [s.serverId, s.migrationId],
    );

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'rebuild-resize-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, 'up', 'kvm', 1024, 1048576, 100000, now(), now())`,
      [hostId],
    );
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.allocations WHERE host_id = $1`, [hostId]);
    await db.query(`DELETE FROM compute.migrations WHERE source_host = $1`, [hostId]);
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = 'p-rr'`);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id = $1`, [hostId]);
    await db.destroy();
  });

  beforeEach(() => {
    calls = [];
    script = {};
    const answer = (op: string, call: Omit<Call, 'op'>, on = true) => {
      calls.push({ ...call, op });
      const next = script[op]?.shift();
      if (next) return next();
      return Promise.resolve({ serverId: call.serverId, powerState: on ? PowerState.Running : PowerState.Shutdown });
    };
    const agents = {
      rebuild: (h: string, spec: InstanceSpec, o: { powerOn: boolean }) => answer('rebuild', { hostId: h, serverId: spec.serverId, spec, powerOn: o.powerOn }, o.powerOn),
      resize: (h: string, spec: InstanceSpec, o: { powerOn: boolean }) => answer('resize', { hostId: h, serverId: spec.serverId, spec, powerOn: o.powerOn }, o.powerOn),
      confirmResize: (h: string, serverId: string) => answer('confirmResize', { hostId: h, serverId }),
      revertResize: (h: string, serverId: string, o: { powerOn: boolean }) => answer('revertResize', { hostId: h, serverId, powerOn: o.powerOn }, o.powerOn),
    } as unknown as AgentClient;
    const specs = {
      build: async (s: ServerEntity): Promise<InstanceSpec> => ({ serverId: s.id, vcpus: s.flavor.vcpus, ramMb: s.flavor.ramMb, diskGb: s.flavor.diskGb }),
    } as unknown as InstanceSpecBuilder;
    const config = { NUBO_STOP_GRACE_S: 3 } as SchedulerConfig;
    const claims = new ResizeClaims(db);
    resize = new ServerResizeWorkflow(db, claims, agents, specs, new ServerResizeFinishWorkflow(db, claims, agents, config), config);
    rebuild = new ServerRebuildWorkflow(db, agents, specs, new ServerFaults(db, new PlacementService(db)), config);
  });

  describe('resize', () => {
    it('claims, has the agent resize to the new shape, and leaves VERIFY_RESIZE with the new flavor', async () => {
      const s = await resizing();
      await expect(resize.run(s, job('server.resize'))).resolves.toBe('done');
      expect(calls).toEqual([{ op: 'resize', hostId, serverId: s.serverId, spec: { serverId: s.serverId, vcpus: 2, ramMb: 1024, diskGb: 2 }, powerOn: true }]);
      expect(await row(s.serverId)).toMatchObject({ vm_state: VmState.Resized, task_state: null, power_state: PowerState.Running, flavor_id: 'big' });
      expect((await getMigration(db, s.migrationId))?.status).toBe('finished');
      expect(await held(s)).toEqual([
        { consumer: 'migration', vcpus: 1, ram_mb: 512 },
        { consumer: 'server', vcpus: 2, ram_mb: 1024 },
      ]);
      // A replay finds it done: nothing is asked of the agent again.
      await expect(resize.run(s, job('server.resize'))).resolves.toBe('skipped');
      expect(calls).toHaveLength(1);
    });

    it('resumes after an agent timeout at the agent step, without claiming again', async () => {
      const s = await resizing();
      script.resize = [() => Promise.reject(new TimeoutError('no answer'))];
      await expect(resize.run(s, job('server.resize'))).rejects.toBeInstanceOf(TimeoutError);
      expect(await row(s.serverId)).toMatchObject({ task_state: TaskState.ResizeMigrating });
      await expect(resize.run(s, job('server.resize', 1))).resolves.toBe('done');
      expect(await held(s)).toHaveLength(2);
      expect(await row(s.serverId)).toMatchObject({ vm_state: VmState.Resized, flavor_id: 'big' });
    });

    it('a failed agent resize is reverted on the host and in placement: the server is as it was, with the fault', async () => {
      const s = await resizing();
      script.resize = [() => Promise.reject(new InternalError('resize of x failed: qemu-img: no space left'))];
      await expect(resize.run(s, job('server.resize'))).resolves.toBe('failed');
      expect(calls.map((c) => [c.op, c.powerOn])).toEqual([['resize', true], ['revertResize', true]]);
      const r = await row(s.serverId);
      expect(r).toMatchObject({ vm_state: VmState.Active, task_state: null, flavor_id: 'tiny', power_state: PowerState.Running });
      expect(r.fault.message).toMatch(/no space left/);
      expect((await getMigration(db, s.migrationId))?.status).toBe('error');
      expect(await held(s)).toEqual([{ consumer: 'server', vcpus: 1, ram_mb: 512 }]);
    });

    it('is ERROR when the host can neither resize nor revert', async () => {
      const s = await resizing();
      script.resize = [() => Promise.reject(new InternalError('resize failed'))];
      script.revertResize = [() => Promise.reject(new InternalError('revert failed'))];
      await expect(resize.run(s, job('server.resize'))).resolves.toBe('failed');
      expect(await row(s.serverId)).toMatchObject({ vm_state: VmState.Error, task_state: null, flavor_id: 'tiny' });
      expect(await held(s)).toEqual([{ consumer: 'server', vcpus: 1, ram_mb: 512 }]);
    });

    it('keeps a stopped server powered off', async () => {
      const s = await resizing(VmState.Stopped);
      await expect(resize.run(s, job('server.resize'))).resolves.toBe('done');
      expect(calls[0].powerOn).toBe(false);
      expect(await row(s.serverId)).toMatchObject({ vm_state: VmState.Resized, power_state: PowerState.Shutdown });
    });
  });

  describe('confirm and revert', () => {
    it('confirm frees the old flavor and ends ACTIVE with the new one', async () => {
      const c = await verifying('confirm');
      await expect(resize.run(c, job('server.resize'))).resolves.toBe('done');
      expect(calls.map((x) => x.op)).toEqual(['confirmResize']);
      expect(await row(c.serverId)).toMatchObject({ vm_state: VmState.Active, task_state: null, flavor_id: 'big' });
      expect((await getMigration(db, c.migrationId))?.status).toBe('confirmed');
      expect(await held(c)).toEqual([{ consumer: 'server', vcpus: 2, ram_mb: 1024 }]);
    });

    it('a confirm that fails leaves VERIFY_RESIZE to be asked again', async () => {
      const c = await verifying('confirm');
      script.confirmResize = [() => Promise.reject(new InternalError('confirm failed'))];
      await expect(resize.run(c, job('server.resize'))).resolves.toBe('failed');
      expect(await row(c.serverId)).toMatchObject({ vm_state: VmState.Resized, task_state: null, flavor_id: 'big' });
      expect((await getMigration(db, c.migrationId))?.status).toBe('finished');
      expect(await held(c)).toHaveLength(2);
    });

    it('revert gives the old flavor back and the state the server had (a stopped one stays off)', async () => {
      const c = await verifying('revert', VmState.Stopped);
      await expect(resize.run(c, job('server.resize'))).resolves.toBe('done');
      expect(calls.map((x) => [x.op, x.powerOn])).toEqual([['revertResize', false]]);
      expect(await row(c.serverId)).toMatchObject({ vm_state: VmState.Stopped, task_state: null, flavor_id: 'tiny', power_state: PowerState.Shutdown });
      expect((await getMigration(db, c.migrationId))?.status).toBe('reverted');
      expect(await held(c)).toEqual([{ consumer: 'server', vcpus: 1, ram_mb: 512 }]);
    });
  });

  describe('rebuild', () => {
    it.each([
      [VmState.Active, true, VmState.Active, PowerState.Running],
      [VmState.Error, true, VmState.Active, PowerState.Running],
      [VmState.Stopped, false, VmState.Stopped, PowerState.Shutdown],
    ])('from %s: the agent boots it (%s), and it ends %s', async (vmState, powerOn, endState, power) => {
      const s = await addServer({ vmState, taskState: TaskState.Rebuilding, action: 'rebuild' });
      await expect(rebuild.run({ ...s, preserveEphemeral: false }, job('server.rebuild'))).resolves.toBe('done');
      expect(calls.map((c) => [c.op, c.powerOn])).toEqual([['rebuild', powerOn]]);
      expect(await row(s.serverId)).toMatchObject({ vm_state: endState, task_state: null, power_state: power, fault: null });
    });

    it('a failure is ERROR with the fault', async () => {
      const s = await addServer({ taskState: TaskState.Rebuilding, action: 'rebuild' });
      script.rebuild = [() => Promise.reject(new InternalError('rebuild of x failed: image download failed'))];
      await expect(rebuild.run({ ...s, preserveEphemeral: false }, job('server.rebuild'))).resolves.toBe('failed');
      const r = await row(s.serverId);
      expect(r).toMatchObject({ vm_state: VmState.Error, task_state: null });
      expect(r.fault.message).toMatch(/image download failed/);
    });

    it('a stale job (another action came since) touches nothing', async () => {
      const s = await addServer({ taskState: TaskState.Rebuilding, action: 'rebuild' });
      await recordAction(db, { serverId: s.serverId, projectId: 'p-rr', userId: 'u', action: 'rebuild', requestId: `req-${randomUUID()}` });
      await expect(rebuild.run({ ...s, preserveEphemeral: false }, job('server.rebuild'))).resolves.toBe('skipped');
      expect(calls).toEqual([]);
      expect(await row(s.serverId)).toMatchObject({ task_state: TaskState.Rebuilding });
    });
  });
});
