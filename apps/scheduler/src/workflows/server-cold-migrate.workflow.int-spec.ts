/**
 * server.cold-migrate and its confirm / revert against real PostgreSQL with the agents and the
 * network service scripted: the calls made and their order, the claims (both hosts hold the
 * server from the claim until confirm or revert), the rollback of a failure at each step (the
 * source started again only after a destination that may run the guest is confirmed gone), and a
 * re-run after a crash that resumes without redoing what was done.
 */
import { Logger } from '@nestjs/common';
import { InternalError, PowerState, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { ServerEntity, createDataSource, getColdMigration, getMigration, insertColdMigration, migrateLocked, recordAction, setColdMigration } from '@nubo/database';
import { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { usageDrift } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { ColdMigrateClaims } from './server-cold-migrate-claims';
import { ServerColdMigrateFinishWorkflow } from './server-cold-migrate-finish.workflow';
import { ColdMigrateRollback } from './server-cold-migrate-rollback';
import { ColdMigrationRpc } from './server-cold-migrate-rpc';
import { ServerColdMigrateWorkflow } from './server-cold-migrate.workflow';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const flavor = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
type Call = { op: string; hostId: string; body?: Record<string, unknown> };
const EXPORTS = [{ disk: 'disk', port: 49500, name: `disk-${'a'.repeat(32)}` }];

run('ServerColdMigrateWorkflow', () => {
  const tag = randomUUID().slice(0, 8);
  const src = `it-${tag}-src`;
  const dst = `it-${tag}-dst`;
  let db: DataSource;
  let calls: Call[];
  let script: Record<string, Array<() => Promise<unknown>>>;
  let workflow: ServerColdMigrateWorkflow;
  let finish: ServerColdMigrateFinishWorkflow;
  let aggregate: number;
  // A zone of this spec's own: other specs' hosts in the same database are never candidates.
  const zone = `it-${tag}-az`;

  const job = (attemptsMade = 0, attempts = 8) => ({ id: `job-${randomUUID()}`, attemptsMade, opts: { attempts } }) as unknown as Job;
  const short = (h: string) => (h === src ? 'src' : h === dst ? 'dst' : h);
  const ops = () => calls.map((c) => `${c.op}@${short(c.hostId)}`);

  /** A server on the source and its migration as the API writes them. */
  async function migrating(vmState: VmState = VmState.Active) {
    const serverId = randomUUID();
    const power = vmState === VmState.Active ? 'running' : 'shutdown';
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id)
       VALUES ($1, 'p-cm', 'u', $2, 'tiny', $3, $4, $5, $6, 'req', $7)`,
      [serverId, `it-${tag}-${serverId}`, flavor, vmState, TaskState.ResizePrep, power, src],
    );
    await db.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 1, 512, 1)`, [serverId, src]);
    await db.query(`UPDATE compute.hosts SET used_vcpus = used_vcpus + 1, used_ram_mb = used_ram_mb + 512, used_disk_gb = used_disk_gb + 1, instances = instances + 1 WHERE id = $1`, [src]);
    const requestId = `req-${randomUUID()}`;
    const migrationId = randomUUID();
    await insertColdMigration(db, { id: migrationId, serverId, projectId: 'p-cm', userId: 'u', sourceHost: src, flavorId: 'tiny', flavor, oldVmState: vmState, requestId });
    await recordAction(db, { serverId, projectId: 'p-cm', userId: 'u', action: 'migrate', requestId });
    return { serverId, requestId, migrationId };
  }

  const server = async (id: string) => (await db.query(`SELECT host_id, vm_state, task_state, power_state FROM compute.servers WHERE id = $1`, [id]))[0];
  const held = async (s: { serverId: string; migrationId: string }) =>
    (
      await db.query(`SELECT CASE WHEN consumer_id = $1 THEN 'server' ELSE 'migration' END AS consumer, host_id FROM compute.allocations WHERE consumer_id IN ($1, $2) ORDER BY 1`, [
        s.serverId,
        s.migrationId,
      ])
    ).map((r: { consumer: string; host_id: string }) => `${r.consumer}@${short(r.host_id)}`);
  /** confirmResize / revertResize as the API asks for them, then the job's step. */
  async function end(s: { serverId: string; migrationId: string }, step: 'confirm' | 'revert', attempt = job()) {
    const task = step === 'confirm' ? TaskState.ResizeConfirming : TaskState.ResizeReverting;
    await db.query(`UPDATE compute.servers SET task_state = $2 WHERE id = $1 AND task_state IS NULL`, [s.serverId, task]);
    await db.query(`UPDATE compute.migrations SET status = $2 WHERE id = $1 AND status = 'finished'`, [s.migrationId, step === 'confirm' ? 'confirming' : 'reverting']);
    const row = await db.getRepository(ServerEntity).findOneByOrFail({ id: s.serverId });
    return finish.run(step, (await getMigration(db, s.migrationId))!, row, attempt, { opId: 'op', requestId: 'req' });
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'cold-migrate-it', poolSize: 6 });
    await db.initialize();
    await migrateLocked(db);
    for (const [id, ip] of [
      [src, '10.98.0.1'],
      [dst, '10.98.0.2'],
    ] as const) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at, underlay_ip)
         VALUES ($1, 'up', 'kvm', 1024, 1048576, 100000, now(), now(), $2)`,
        [id, ip],
      );
    }
    [{ id: aggregate }] = await db.query(`INSERT INTO compute.aggregates (uuid, name, availability_zone, metadata) VALUES ($1, $2, $3, '{}') RETURNING id`, [randomUUID(), zone, zone]);
    for (const host of [src, dst]) await db.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) VALUES ($1, $2)`, [aggregate, host]);
  });

  afterAll(async () => {
    const hosts = [src, dst];
    await db.query(`DELETE FROM compute.allocations WHERE host_id = ANY($1)`, [hosts]);
    await db.query(`DELETE FROM compute.migrations WHERE source_host = $1`, [src]);
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = 'p-cm'`);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.aggregate_hosts WHERE aggregate_id = $1`, [aggregate]);
    await db.query(`DELETE FROM compute.aggregates WHERE id = $1`, [aggregate]);
    await db.query(`DELETE FROM compute.hosts WHERE id = ANY($1)`, [hosts]);
    await db.destroy();
  });

  beforeEach(() => {
    calls = [];
    script = {};
    const answer = async (op: string, hostId: string, body: Record<string, unknown> | undefined, fallback: () => unknown) => {
      calls.push({ op, hostId, body });
      const next = script[op]?.shift();
      return next ? next() : fallback();
    };
    const rpc = {
      disks: (h: string) => answer('disks', h, undefined, () => ({ disks: [{ name: 'disk', virtualSize: 1 << 30 }], baseSha256: 'f'.repeat(64) })),
      prepare: (h: string, b: Record<string, unknown>) => answer('prepare', h, b, () => ({ exports: EXPORTS })),
      stop: (h: string) => answer('stop', h, undefined, () => ({ powerState: PowerState.Shutdown })),
      transfer: (h: string, b: Record<string, unknown>) => answer('transfer', h, b, () => ({ disks: [{ disk: 'disk', seconds: 1 }] })),
      finish: (h: string, b: Record<string, unknown>) => answer('finish', h, b, () => ({ powerState: b.powerOn ? PowerState.Running : PowerState.Shutdown })),
      abort: (h: string) => answer('abort', h, undefined, () => ({ aborted: true })),
      start: (h: string) => answer('start', h, undefined, () => ({ powerState: PowerState.Running })),
      status: (h: string) => answer('status', h, undefined, () => ({ powerState: PowerState.Running })),
      destroy: (h: string) => answer('destroy', h, undefined, () => ({ destroyed: true })),
      network: (step: string, _serverId: string, h: string) => answer(`network-${step}`, h, undefined, () => ({ ports: 1 })),
    } as unknown as ColdMigrationRpc;
    const inputs = {
      build: async (s: ServerEntity) => ({
        attempt: 1,
        input: { projectId: s.projectId, ...flavor, extraSpecs: {}, imageProperties: {}, availabilityZone: zone, forcedHost: null, excludedHosts: [] },
      }),
    } as unknown as PlacementInputBuilder;
    const specs = { build: async (s: ServerEntity) => ({ serverId: s.id, vcpus: 1, ramMb: 512, diskGb: 1 }) } as unknown as InstanceSpecBuilder;
    const config = { NUBO_STOP_GRACE_S: 5 } as SchedulerConfig;
    const claims = new ColdMigrateClaims(db, new PlacementService(db), {});
    const undo = new ColdMigrateRollback(db, claims, rpc, specs);
    workflow = new ServerColdMigrateWorkflow(db, claims, rpc, undo, inputs, specs, config);
    finish = new ServerColdMigrateFinishWorkflow(db, claims, rpc, specs);
  });

  afterEach(async () => {
    expect(await usageDrift(db, `h.id IN ('${src}', '${dst}')`)).toEqual([]);
  });

  it('claims a destination other than the source, copies the powered-off disks, boots there: VERIFY_RESIZE', async () => {
    const s = await migrating();
    let during: string[] = [];
    script.transfer = [async () => ((during = await held(s)), { disks: [] })];
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(ops()).toEqual(['network-prepare@dst', 'disks@src', 'prepare@dst', 'stop@src', 'transfer@src', 'finish@dst', 'network-commit@dst', 'status@dst']);
    expect(calls.find((c) => c.op === 'prepare')!.body).toMatchObject({ sourceAddress: '10.98.0.1', listenAddress: '10.98.0.2', disks: [{ name: 'disk' }], baseSha256: 'f'.repeat(64) });
    expect(calls.find((c) => c.op === 'transfer')!.body).toMatchObject({ destination: { address: '10.98.0.2', exports: EXPORTS } });
    expect(calls.find((c) => c.op === 'finish')!.body).toMatchObject({ powerOn: true });
    // The destination's claim is the migration's until the move, then the source's is.
    expect(during).toEqual(['migration@dst', 'server@src']);
    expect(await held(s)).toEqual(['migration@src', 'server@dst']);
    expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Resized, task_state: null, power_state: PowerState.Running });
    expect(await getColdMigration(db, s.migrationId)).toMatchObject({ status: 'finished', destHost: dst, cold: { step: 'moved' } });
  });

  it('keeps a SHUTOFF server powered off on the destination', async () => {
    const s = await migrating(VmState.Stopped);
    // The destination says it is off at the end of the move and at the confirm.
    script.status = [async () => ({ powerState: PowerState.Shutdown }), async () => ({ powerState: PowerState.Shutdown })];
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(calls.find((c) => c.op === 'finish')!.body).toMatchObject({ powerOn: false });
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, vm_state: VmState.Resized, power_state: PowerState.Shutdown });
    await expect(end(s, 'confirm')).resolves.toBe('done');
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, vm_state: VmState.Stopped, task_state: null });
  });

  it.each([
    ['prepare', ['network-prepare@dst', 'disks@src', 'prepare@dst', 'abort@dst', 'network-abort@dst']],
    ['transfer', ['network-prepare@dst', 'disks@src', 'prepare@dst', 'stop@src', 'transfer@src', 'abort@dst', 'network-abort@dst', 'start@src']],
    // The destination may run the guest: it is destroyed before the source starts again.
    ['finish', ['network-prepare@dst', 'disks@src', 'prepare@dst', 'stop@src', 'transfer@src', 'finish@dst', 'abort@dst', 'destroy@dst', 'network-abort@dst', 'start@src']],
  ])('a failure of %s rolls back: ACTIVE on the source, the destination claim freed', async (op, expected) => {
    const s = await migrating();
    script[op] = [async () => Promise.reject(new InternalError(`${op} broke`))];
    await expect(workflow.run(s, job())).resolves.toBe('failed');
    expect(ops()).toEqual(expected);
    expect(await held(s)).toEqual(['server@src']);
    expect(await server(s.serverId)).toMatchObject({ host_id: src, vm_state: VmState.Active, task_state: null, power_state: PowerState.Running });
    expect(await getColdMigration(db, s.migrationId)).toMatchObject({ status: 'error', cold: { step: 'rolled-back', outcome: expect.stringContaining(`${op} broke`) } });
  });

  it('never starts the source while a destination that may run the guest does not answer its destroy', async () => {
    const s = await migrating();
    script.finish = [async () => Promise.reject(new InternalError('finish broke'))];
    script.destroy = [async () => Promise.reject(new TimeoutError('no answer'))];
    // Not the last attempt: the job retries, the rollback recorded.
    await expect(workflow.run(s, job(0))).rejects.toThrow('no answer');
    expect(ops()).not.toContain('start@src');
    expect((await getColdMigration(db, s.migrationId))!.cold.rollback).toContain('finish broke');
    // The retry goes on undoing (never forward), and starts the source once the destroy answered.
    calls = [];
    await expect(workflow.run(s, job(1))).resolves.toBe('failed');
    expect(ops()).toEqual(['abort@dst', 'destroy@dst', 'network-abort@dst', 'start@src']);
    expect(await server(s.serverId)).toMatchObject({ host_id: src, vm_state: VmState.Active, task_state: null });
  });

  it('out of attempts with the destination silent: ERROR, nothing started', async () => {
    const s = await migrating();
    script.finish = [async () => Promise.reject(new InternalError('finish broke'))];
    script.destroy = [async () => Promise.reject(new TimeoutError('no answer'))];
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    expect(ops()).not.toContain('start@src');
    expect(await server(s.serverId)).toMatchObject({ vm_state: VmState.Error, task_state: null });
  });

  it('resumes after a crash from the step recorded, redoing nothing done', async () => {
    const s = await migrating();
    // The first run dies (an unanswered call) right after the copy was recorded.
    script.finish = [async () => Promise.reject(new TimeoutError('scheduler died'))];
    await expect(workflow.run(s, job(0))).rejects.toThrow('scheduler died');
    expect((await getColdMigration(db, s.migrationId))!.cold.step).toBe('finishing');
    calls = [];
    await expect(workflow.run(s, job(1))).resolves.toBe('done');
    expect(ops()).toEqual(['finish@dst', 'network-commit@dst', 'status@dst']);
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, vm_state: VmState.Resized });
  });

  it('a server deleted mid-migration: the destination copy goes, nothing starts, the record closes', async () => {
    const s = await migrating();
    script.transfer = [async () => (await db.query(`UPDATE compute.servers SET task_state = 'deleting' WHERE id = $1`, [s.serverId]), { disks: [] })];
    await expect(workflow.run(s, job())).resolves.toBe('skipped');
    expect(ops().slice(-2)).toEqual(['abort@dst', 'network-abort@dst']);
    expect(ops()).not.toContain('start@src');
    expect(await held(s)).toEqual(['server@src']);
    expect((await getColdMigration(db, s.migrationId))!.status).toBe('error');
  });

  it('confirm destroys the source copy and frees its claim: ACTIVE on the destination', async () => {
    const s = await migrating();
    await workflow.run(s, job());
    calls = [];
    await expect(end(s, 'confirm')).resolves.toBe('done');
    expect(ops()).toEqual(['destroy@src', 'status@dst']);
    expect(await held(s)).toEqual(['server@dst']);
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, vm_state: VmState.Active, task_state: null });
    expect((await getColdMigration(db, s.migrationId))!.status).toBe('confirmed');
  });

  it('revert destroys the destination copy first, then the server is back on the source, started', async () => {
    const s = await migrating();
    await workflow.run(s, job());
    calls = [];
    await expect(end(s, 'revert')).resolves.toBe('done');
    expect(ops()).toEqual(['destroy@dst', 'network-prepare@src', 'network-commit@src', 'start@src']);
    expect(await held(s)).toEqual(['server@src']);
    expect(await server(s.serverId)).toMatchObject({ host_id: src, vm_state: VmState.Active, task_state: null, power_state: PowerState.Running });
    expect((await getColdMigration(db, s.migrationId))!.status).toBe('reverted');
  });

  it('a confirm whose source does not answer leaves VERIFY_RESIZE with the claims as they were', async () => {
    const s = await migrating();
    await workflow.run(s, job());
    script.destroy = [async () => Promise.reject(new InternalError('source broke'))];
    await expect(end(s, 'confirm')).resolves.toBe('failed');
    expect(await held(s)).toEqual(['migration@src', 'server@dst']);
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, vm_state: VmState.Resized, task_state: null });
    expect((await getColdMigration(db, s.migrationId))!.status).toBe('finished');
    // Asked again, it converges.
    await expect(end(s, 'confirm')).resolves.toBe('done');
    expect(await held(s)).toEqual(['server@dst']);
  });

  it('a revert past the destination destroy goes on after a failure, never back to VERIFY_RESIZE', async () => {
    const s = await migrating();
    await workflow.run(s, job());
    script.start = [async () => Promise.reject(new TimeoutError('source silent'))];
    await expect(end(s, 'revert', job(0))).rejects.toThrow('source silent');
    expect((await getColdMigration(db, s.migrationId))!.cold.revert).toBe('destination-destroyed');
    calls = [];
    const row = await db.getRepository(ServerEntity).findOneByOrFail({ id: s.serverId });
    await expect(finish.run('revert', (await getMigration(db, s.migrationId))!, row, job(1), { opId: 'op', requestId: 'req' })).resolves.toBe('done');
    expect(ops()).not.toContain('destroy@dst');
    expect(await server(s.serverId)).toMatchObject({ host_id: src, vm_state: VmState.Active, task_state: null });
    expect(await held(s)).toEqual(['server@src']);
  });

  it('no host but the source: refused after the claim step, nothing touched', async () => {
    const s = await migrating();
    await db.query(`UPDATE compute.hosts SET state = 'disabled' WHERE id = $1`, [dst]);
    try {
      await expect(workflow.run(s, job())).resolves.toBe('failed');
    } finally {
      await db.query(`UPDATE compute.hosts SET state = 'up' WHERE id = $1`, [dst]);
    }
    expect(calls).toEqual([]);
    expect(await server(s.serverId)).toMatchObject({ host_id: src, vm_state: VmState.Active, task_state: null });
    expect(await getColdMigration(db, s.migrationId)).toMatchObject({ status: 'error', cold: { outcome: expect.stringContaining('No valid host') } });
    // A failed record does not hold the server: it may be migrated again.
    expect(await setColdMigration(db, s.migrationId, ['pre-migrating'], 'migrating')).toBe(false);
  });
});
