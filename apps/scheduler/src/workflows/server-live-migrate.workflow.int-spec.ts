/**
 * server.live-migrate against real PostgreSQL with the agents and the network service scripted:
 * the calls made and their order, the claims (both hosts hold the server until the move, which
 * commits host and allocations at once), the progress and convergence actions in the record, the
 * rollback of a failure at each step, an admin's abort, and a re-run after a crash that resumes
 * without redoing what was done.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, InternalError, MigrationProgressEvent, MigrationStatusReply, TaskState, TimeoutError, VmState } from '@nubo/contracts';
import { ServerEntity, createDataSource, getLiveMigration, insertLiveMigration, migrateLocked, recordAction } from '@nubo/database';
import { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { usageDrift } from '../placement/host-usage';
import { PlacementService } from '../placement/placement.service';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { PlacementInputBuilder } from './placement-input';
import { LiveMigrateClaims } from './server-live-migrate-claims';
import { LiveMigrationPoller } from './server-live-migrate-poll';
import { LiveMigrationRpc } from './server-live-migrate-rpc';
import { ServerLiveMigrateWorkflow } from './server-live-migrate.workflow';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const flavor = { vcpus: 1, ramMb: 512, diskGb: 1, name: 'tiny' };
type Call = { op: string; hostId: string; body?: Record<string, unknown> };
type Step = () => Promise<unknown>;

const progress = (phase: MigrationStatusReply['phase'], remaining = 100): MigrationStatusReply => ({
  phase,
  memory: { totalBytes: 1000, processedBytes: 1000 - remaining, remainingBytes: remaining },
  disk: { totalBytes: 5000, processedBytes: 5000, remainingBytes: 0 },
});

run('ServerLiveMigrateWorkflow', () => {
  const tag = randomUUID().slice(0, 8);
  const src = `it-${tag}-src`;
  const dst = `it-${tag}-dst`;
  const full = `it-${tag}-full`;
  let db: DataSource;
  let calls: Call[];
  let script: Record<string, Step[]>;
  /** Runs on each status call (after the scripted reply is chosen): lets a test look at the rows mid-migration. */
  let onStatus: (() => Promise<void>) | undefined;
  let workflow: ServerLiveMigrateWorkflow;
  let config: SchedulerConfig;
  let events: MigrationProgressEvent[];

  const job = (attemptsMade = 0, attempts = 8) => ({ id: `job-${randomUUID()}`, attemptsMade, opts: { attempts } }) as unknown as Job;

  async function migrating(o: { requestedHost?: string | null; metadata?: Record<string, string>; force?: boolean } = {}) {
    const serverId = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id, metadata)
       VALUES ($1, 'p-lm', 'u', $2, 'tiny', $3, 'active', NULL, 'running', 'req', $4, $5)`,
      [serverId, `it-${tag}-${serverId}`, flavor, src, o.metadata ?? {}],
    );
    await db.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 1, 512, 1)`, [serverId, src]);
    await db.query(`UPDATE compute.hosts SET used_vcpus = used_vcpus + 1, used_ram_mb = used_ram_mb + 512, used_disk_gb = used_disk_gb + 1, instances = instances + 1 WHERE id = $1`, [src]);
    return again({ serverId }, src, { requestedHost: o.requestedHost === undefined ? dst : o.requestedHost, force: o.force });
  }

  /** A new live migration of the (idle) server from `from`, as the API writes it. */
  async function again(s: { serverId: string }, from: string, o: { requestedHost: string | null; force?: boolean }) {
    const requestId = `req-${randomUUID()}`;
    const m = await insertLiveMigration(db, {
      id: randomUUID(), serverId: s.serverId, projectId: 'p-lm', userId: 'u', sourceHost: from, requestedHost: o.requestedHost, blockMigration: true,
      flavorId: 'tiny', flavor, oldVmState: VmState.Active, requestId, forceDestination: o.force,
    });
    await db.query(`UPDATE compute.servers SET task_state = 'migrating' WHERE id = $1 AND task_state IS NULL AND host_id = $2`, [s.serverId, from]);
    await recordAction(db, { serverId: s.serverId, projectId: 'p-lm', userId: 'u', action: 'live-migration', requestId });
    return { serverId: s.serverId, requestId, migrationId: m.id };
  }

  const server = async (id: string) => (await db.query(`SELECT host_id, vm_state, task_state FROM compute.servers WHERE id = $1`, [id]))[0];
  const held = async (s: { serverId: string; migrationId: string }) =>
    (
      await db.query(
        `SELECT CASE WHEN consumer_id = $1 THEN 'server' ELSE 'migration' END AS consumer, host_id FROM compute.allocations
          WHERE consumer_id IN ($1, $2) ORDER BY 1`,
        [s.serverId, s.migrationId],
      )
    ).map((r: { consumer: string; host_id: string }) => `${r.consumer}@${r.host_id === src ? 'src' : r.host_id === dst ? 'dst' : r.host_id}`);
  const ops = () => calls.map((c) => `${c.op}@${c.hostId === src ? 'src' : c.hostId === dst ? 'dst' : c.hostId}`);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'live-migrate-it', poolSize: 6 });
    await db.initialize();
    await migrateLocked(db);
    for (const [id, ram, ip] of [
      [src, 1048576, '10.99.0.1'],
      [dst, 1048576, '10.99.0.2'],
      [full, 256, '10.99.0.3'],
    ] as const) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at, underlay_ip)
         VALUES ($1, 'up', 'kvm', 1024, $2, 100000, now(), now(), $3)`,
        [id, ram, ip],
      );
    }
  });

  afterAll(async () => {
    const hosts = [src, dst, full];
    await db.query(`DELETE FROM compute.allocations WHERE host_id = ANY($1)`, [hosts]);
    await db.query(`DELETE FROM compute.migrations WHERE source_host = $1`, [src]);
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = 'p-lm'`);
    await db.query(`DELETE FROM compute.servers WHERE name LIKE $1`, [`it-${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id = ANY($1)`, [hosts]);
    await db.destroy();
  });

  beforeEach(() => {
    calls = [];
    script = {};
    events = [];
    onStatus = undefined;
    const answer = async (op: string, hostId: string, body: Record<string, unknown> | undefined, fallback: () => unknown) => {
      calls.push({ op, hostId, body });
      const next = script[op]?.shift();
      return next ? next() : fallback();
    };
    const rpc = {
      prepare: (h: string, b: Record<string, unknown>) => answer('prepare', h, b, () => ({ port: 49152 })),
      start: (h: string, b: Record<string, unknown>) => answer('start', h, b, () => ({})),
      status: async (h: string) => {
        const reply = await answer('status', h, undefined, () => progress('completed', 0));
        await onStatus?.();
        return reply;
      },
      adjust: (h: string, b: Record<string, unknown>) => answer('adjust', h, b, () => ({})),
      cancel: (h: string) => answer('cancel', h, undefined, () => ({ cancelled: true })),
      finish: (h: string) => answer('finish', h, undefined, () => ({})),
      abortDestination: (h: string) => answer('abortDestination', h, undefined, () => ({ aborted: true })),
      cleanupSource: (h: string) => answer('cleanupSource', h, undefined, () => ({ cleaned: true })),
      network: (step: string, _serverId: string, h: string) => answer(`network-${step}`, h, undefined, () => ({ ports: 1 })),
      publish: (e: MigrationProgressEvent) => events.push(e),
    } as unknown as LiveMigrationRpc;
    const inputs = {
      build: async (s: ServerEntity) => ({
        attempt: 1,
        input: { projectId: s.projectId, ...flavor, extraSpecs: {}, imageProperties: {}, availabilityZone: null, forcedHost: null, excludedHosts: [] },
      }),
    } as unknown as PlacementInputBuilder;
    const nic = { portId: 'p1', mac: 'fa:16:3e:00:00:01', tap: 'tap-it' };
    const specs = { build: async (s: ServerEntity) => ({ serverId: s.id, ...(s.metadata?.['it:nics'] ? { nics: [nic] } : {}) }) } as unknown as InstanceSpecBuilder;
    config = {
      NUBO_LIVE_MIGRATION_POLL_MS: 5,
      NUBO_LIVE_MIGRATION_CONVERGE_AFTER_MS: 60_000,
      NUBO_LIVE_MIGRATION_DOWNTIME_STEPS: 2,
      NUBO_LIVE_MIGRATION_DOWNTIME_MS: 300,
      NUBO_LIVE_MIGRATION_TIMEOUT_MS: 60_000,
      NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS: 10_240,
      NUBO_LIVE_MIGRATION_MULTIFD_CHANNELS: 2,
      NUBO_LIVE_MIGRATION_STALL_MS: 60_000,
    } as SchedulerConfig;
    const placement = new PlacementService(db);
    workflow = new ServerLiveMigrateWorkflow(db, new LiveMigrateClaims(db, placement, {}), rpc, inputs, specs, new LiveMigrationPoller(db, rpc, config), config);
  });

  afterEach(async () => {
    expect(await usageDrift(db, `h.id IN ('${src}', '${dst}', '${full}')`)).toEqual([]);
  });

  it('claims the destination, migrates, and moves host and allocations at once', async () => {
    const s = await migrating();
    script.status = [async () => progress('active', 600), async () => progress('completed', 0)];
    const during: string[][] = [];
    onStatus = async () => {
      during.push(await held(s));
    };
    await expect(workflow.run(s, job())).resolves.toBe('done');

    expect(ops()).toEqual(['network-prepare@dst', 'prepare@dst', 'start@src', 'status@src', 'status@src', 'finish@dst', 'network-commit@dst', 'cleanupSource@src']);
    // Both hosts held the server while it moved.
    expect(during).toEqual([['migration@dst', 'server@src'], ['migration@dst', 'server@src']]);
    expect(await held(s)).toEqual(['server@dst']);
    expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Active, task_state: null });
    const m = (await getLiveMigration(db, s.migrationId))!;
    expect(m).toMatchObject({ status: 'completed', destHost: dst, live: { step: 'committed', sourceCleanup: 'done', polls: 2 } });
    // Where the time went: every step's time after the request, in order.
    const t = m.live.timings!;
    const order = ['picked', 'claimed', 'prepare-sent', 'prepare-answered', 'network-prepared', 'destination-prepared', 'start-sent', 'started', 'first-poll', 'switched-over', 'finished', 'committed', 'completed'];
    expect(Object.keys(t).sort()).toEqual([...order].sort());
    const times = order.map((k) => t[k]);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Progress events: each status change and each poll, the processed bytes growing, the final one completed.
    expect(events.map((e) => e.status)).toEqual(['preparing', 'running', 'running', 'post-migrating', 'completed']);
    expect(events.every((e) => e.migrationId === s.migrationId && e.serverId === s.serverId && e.sourceHost === src)).toBe(true);
    expect(events.slice(2).map((e) => e.memory.processedBytes)).toEqual([400, 1000, 1000]);
    expect(events.at(-1)).toMatchObject({ status: 'completed', phase: 'completed', destHost: dst, disk: { totalBytes: 5000, processedBytes: 5000 } });
    expect(m.progress).toMatchObject({ phase: 'completed', memory: { totalBytes: 1000, remainingBytes: 0 }, disk: { totalBytes: 5000 } });
    const prepare = calls.find((c) => c.op === 'prepare')!.body!;
    expect(prepare).toMatchObject({ sourceAddress: '10.99.0.1', listenAddress: '10.99.0.2', block: true, channels: { multifdChannels: 2, postcopyAllowed: false } });
    expect(calls.find((c) => c.op === 'start')!.body).toMatchObject({
      destination: { address: '10.99.0.2', port: 49152 },
      parameters: { downtimeLimitMs: 300, autoConverge: true, maxBandwidthBytesPerSec: 10_240 * 1024 * 1024 },
    });
    // A replay of the job finds the migration over.
    await expect(workflow.run(s, job())).resolves.toBe('skipped');
  });

  it.each([
    ['the destination prepare fails', { prepare: [async () => Promise.reject(new InternalError('no room for QEMU'))] }, ['network-prepare@dst', 'prepare@dst', 'abortDestination@dst', 'network-abort@dst'], 'no room for QEMU'],
    ['the start fails', { start: [async () => Promise.reject(new InternalError('migrate refused'))] }, ['network-prepare@dst', 'prepare@dst', 'start@src', 'cancel@src', 'abortDestination@dst', 'network-abort@dst'], 'migrate refused'],
    ['the status reports failed', { status: [async () => progress('active'), async () => ({ ...progress('failed'), error: 'socket closed' })] }, ['network-prepare@dst', 'prepare@dst', 'start@src', 'status@src', 'status@src', 'cancel@src', 'abortDestination@dst', 'network-abort@dst'], 'socket closed'],
    // No NIC: the destination QEMU starts while the ports are plumbed.
    ['the network prepare fails', { 'network-prepare': [async () => Promise.reject(new InternalError('no tap'))] }, ['network-prepare@dst', 'prepare@dst', 'abortDestination@dst', 'network-abort@dst'], 'no tap'],
  ])('rolls back when %s: the server stays on its source, the destination claim goes', async (_what, steps, expectedOps, outcome) => {
    const s = await migrating();
    script = steps as Record<string, Step[]>;
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    expect(ops()).toEqual(expectedOps);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
    expect(await held(s)).toEqual(['server@src']);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'error', live: { step: 'rolled-back', outcome } });
    expect(events.at(-1)).toMatchObject({ status: 'error', outcome, serverId: s.serverId });
  });

  it('ends cancelled when an admin aborts while it runs', async () => {
    const s = await migrating();
    script.status = [async () => progress('active'), async () => progress('active'), async () => progress('active')];
    onStatus = async () => {
      await db.query(`UPDATE compute.migrations SET abort_requested_at = now() WHERE id = $1`, [s.migrationId]);
    };
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(ops()).toEqual(['network-prepare@dst', 'prepare@dst', 'start@src', 'status@src', 'cancel@src', 'abortDestination@dst', 'network-abort@dst']);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
    expect(await held(s)).toEqual(['server@src']);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'cancelled', live: { outcome: 'aborted' } });
  });

  it('rolls back a migration that moves no byte for the stall limit', async () => {
    Object.assign(config, { NUBO_LIVE_MIGRATION_STALL_MS: 60 });
    const s = await migrating();
    script.status = Array.from({ length: 1000 }, () => async () => progress('active', 100));
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    expect(ops().slice(-3)).toEqual(['cancel@src', 'abortDestination@dst', 'network-abort@dst']);
    expect((await getLiveMigration(db, s.migrationId))!.live.outcome).toMatch(/^stalled/);
    expect(await held(s)).toEqual(['server@src']);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
  });

  it('does not call a slow migration that keeps moving stalled', async () => {
    Object.assign(config, { NUBO_LIVE_MIGRATION_STALL_MS: 60, NUBO_LIVE_MIGRATION_POLL_MS: 20 });
    const s = await migrating();
    // 30 polls of 20 ms (600 ms, ten stall limits), one byte more each time, then done.
    script.status = [...Array.from({ length: 30 }, (_, i) => async () => progress('active', 100 - i)), async () => progress('completed', 0)];
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, task_state: null });
  });

  it('rolls back when the destination agent restarts during the migration (its QEMU is no longer watched)', async () => {
    const s = await migrating();
    script.status = Array.from({ length: 1000 }, (_, i) => async () => progress('active', 1000 - i));
    onStatus = async () => {
      if (calls.filter((c) => c.op === 'status').length === 2) await db.query(`UPDATE compute.hosts SET agent_started_at = now() + interval '1 second' WHERE id = $1`, [dst]);
    };
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    expect(ops()).toEqual(['network-prepare@dst', 'prepare@dst', 'start@src', 'status@src', 'status@src', 'cancel@src', 'abortDestination@dst', 'network-abort@dst']);
    expect((await getLiveMigration(db, s.migrationId))!.live.outcome).toMatch(/agent of the destination .* restarted/);
    expect(await held(s)).toEqual(['server@src']);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
  });

  it('aborted before it started, it never starts', async () => {
    const s = await migrating();
    await db.query(`UPDATE compute.migrations SET abort_requested_at = now() WHERE id = $1`, [s.migrationId]);
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(ops()).toEqual([]);
    expect(await held(s)).toEqual(['server@src']);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'cancelled' });
  });

  it('ends in error, nothing claimed, when the requested host cannot take the server', async () => {
    const s = await migrating({ requestedHost: full });
    await expect(workflow.run(s, job())).resolves.toBe('failed');
    expect(ops()).toEqual([]);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
    const m = await getLiveMigration(db, s.migrationId);
    expect(m).toMatchObject({ status: 'error', destHost: null });
    expect(m!.live.outcome).toMatch(/RAM/i);
  });

  it('resumes after a crash without redoing the steps done', async () => {
    const s = await migrating();
    // The destination agent does not answer the first prepare: the job is retried (thrown), the record says where it got.
    script.prepare = [async () => Promise.reject(new TimeoutError('no reply'))];
    await expect(workflow.run(s, job(0))).rejects.toThrow('no reply');
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'preparing', live: { step: 'claimed' } });
    expect(await held(s)).toEqual(['migration@dst', 'server@src']);
    // The status poll dies too (the scheduler "crashes" mid-poll), then the next attempt completes.
    script.status = [async () => progress('active'), async () => Promise.reject(new TimeoutError('scheduler died'))];
    await expect(workflow.run(s, job(1))).rejects.toThrow('scheduler died');
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'running', live: { step: 'started' } });
    await expect(workflow.run(s, job(2))).resolves.toBe('done');
    expect(ops()).toEqual([
      'network-prepare@dst', 'prepare@dst', // attempt 1
      'network-prepare@dst', 'prepare@dst', 'start@src', 'status@src', 'status@src', // attempt 2
      'status@src', 'finish@dst', 'network-commit@dst', 'cleanupSource@src', // attempt 3
    ]);
    expect(await held(s)).toEqual(['server@dst']);
    expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Active, task_state: null });
  });

  it('steps the downtime limit up, then aborts at the timeout without post-copy', async () => {
    Object.assign(config, { NUBO_LIVE_MIGRATION_CONVERGE_AFTER_MS: 20, NUBO_LIVE_MIGRATION_TIMEOUT_MS: 150 });
    const s = await migrating();
    script.status = Array.from({ length: 1000 }, () => async () => progress('active'));
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    const adjusts = calls.filter((c) => c.op === 'adjust').map((c) => c.body!.downtimeLimitMs);
    expect(adjusts).toEqual([600, 1200]);
    expect(ops().slice(-3)).toEqual(['cancel@src', 'abortDestination@dst', 'network-abort@dst']);
    const m = await getLiveMigration(db, s.migrationId);
    expect(m).toMatchObject({ status: 'error', live: { actions: ['downtime-600', 'downtime-1200', 'abort-timeout'], downtimeStep: 2 } });
    expect(m!.live.outcome).toMatch(/^timeout/);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
  });

  it('goes post-copy when the server allows it, and is not aborted then', async () => {
    Object.assign(config, { NUBO_LIVE_MIGRATION_CONVERGE_AFTER_MS: 20, NUBO_LIVE_MIGRATION_DOWNTIME_STEPS: 0 });
    const s = await migrating({ metadata: { 'nubo:live_migration_postcopy': 'true' } });
    let n = 0;
    script.status = Array.from({ length: 1000 }, () => async () => {
      const postcopy = calls.some((c) => c.op === 'adjust' && c.body!.startPostcopy);
      return postcopy && ++n > 2 ? progress('completed', 0) : progress(postcopy ? 'postcopy-active' : 'active');
    });
    onStatus = async () => {
      if (calls.some((c) => c.op === 'adjust')) await db.query(`UPDATE compute.migrations SET abort_requested_at = now() WHERE id = $1`, [s.migrationId]);
    };
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(calls.find((c) => c.op === 'prepare')!.body).toMatchObject({ channels: { postcopyAllowed: true } });
    expect(ops()).not.toContain('cancel@src');
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'completed', live: { postcopy: true, actions: ['postcopy'] } });
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, task_state: null });
  });

  it('asks the destination to finish again while it has not yet seen the end of the stream', async () => {
    const s = await migrating();
    script.finish = [async () => Promise.reject(new ConflictError('has not completed here (active, running)'))];
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(ops().filter((o) => o === 'finish@dst')).toHaveLength(2);
    expect(await server(s.serverId)).toMatchObject({ host_id: dst, task_state: null });
  });

  it('keeps an anti-affinity group apart: a host with another member is refused', async () => {
    const groupId = randomUUID();
    const s = await migrating();
    const other = randomUUID();
    await db.query(`INSERT INTO compute.server_groups (id, project_id, user_id, name, policy) VALUES ($1, 'p-lm', 'u', $2, 'anti-affinity')`, [groupId, `it-${tag}-g`]);
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, power_state, request_id, host_id)
       VALUES ($1, 'p-lm', 'u', $2, 'tiny', $3, 'active', 'running', 'req', $4)`,
      [other, `it-${tag}-${other}`, flavor, dst],
    );
    await db.query(`INSERT INTO compute.server_group_members (group_id, server_id) VALUES ($1, $2), ($1, $3)`, [groupId, s.serverId, other]);
    try {
      await expect(workflow.run(s, job())).resolves.toBe('failed');
      expect(ops()).toEqual([]);
      expect(await held(s)).toEqual(['server@src']);
      expect((await getLiveMigration(db, s.migrationId))!.live.outcome).toMatch(/AntiAffinity/);
    } finally {
      await db.query(`DELETE FROM compute.server_groups WHERE id = $1`, [groupId]);
    }
  });

  it('plumbs the ports of a server with NICs before its destination QEMU starts (each step persisted)', async () => {
    const s = await migrating({ metadata: { 'it:nics': 'yes' } });
    script.prepare = [async () => Promise.reject(new TimeoutError('no reply'))];
    await expect(workflow.run(s, job(0))).rejects.toThrow('no reply');
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'preparing', live: { step: 'network-prepared' } });
    script['network-prepare'] = [async () => Promise.reject(new InternalError('no tap'))];
    const other = await migrating({ metadata: { 'it:nics': 'yes' } });
    calls = [];
    await expect(workflow.run(other, job(7))).resolves.toBe('failed');
    expect(ops()).toEqual(['network-prepare@dst', 'abortDestination@dst', 'network-abort@dst']);
    calls = [];
    await expect(workflow.run(s, job(1))).resolves.toBe('done');
    expect(ops()).toEqual(['prepare@dst', 'start@src', 'status@src', 'finish@dst', 'network-commit@dst', 'cleanupSource@src']);
  });

  it('sees an abort asked while it prepares at the next step, before anything else is called', async () => {
    const s = await migrating({ metadata: { 'it:nics': 'yes' } });
    script['network-prepare'] = [
      async () => {
        await db.query(`UPDATE compute.migrations SET abort_requested_at = now() WHERE id = $1`, [s.migrationId]);
        return { ports: 1 };
      },
    ];
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(ops()).toEqual(['network-prepare@dst', 'abortDestination@dst', 'network-abort@dst']);
    expect(await held(s)).toEqual(['server@src']);
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'cancelled', live: { step: 'rolled-back', outcome: 'aborted' } });
    expect(events.map((e) => e.status)).toEqual(['preparing', 'cancelled']);
  });

  it('makes the server ACTIVE on the destination before the source cleanup, completed after it (a retry does it alone)', async () => {
    const s = await migrating();
    script.cleanupSource = [async () => Promise.reject(new TimeoutError('no reply from the source agent'))];
    await expect(workflow.run(s, job(0))).rejects.toThrow('no reply from the source agent');
    expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Active, task_state: null });
    expect(await held(s)).toEqual(['server@dst']);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'post-migrating', live: { step: 'committed', sourceCleanup: 'pending' } });
    expect(events.at(-1)).toMatchObject({ status: 'post-migrating' });
    // Another migration meanwhile is refused (one open live migration per server).
    await expect(again(s, dst, { requestedHost: src })).rejects.toThrow(/unique|duplicate/i);
    calls = [];
    await expect(workflow.run(s, job(1))).resolves.toBe('done');
    expect(ops()).toEqual(['cleanupSource@src']);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'completed', live: { sourceCleanup: 'done' } });
    expect(events.at(-1)).toMatchObject({ status: 'completed' });
    expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Active, task_state: null });
  });

  it('a source cleanup that never succeeded: the record in error, the server ACTIVE; done before the server comes back to that host', async () => {
    const s = await migrating();
    script.cleanupSource = [async () => Promise.reject(new InternalError('source dir busy'))];
    await expect(workflow.run(s, job(7))).resolves.toBe('failed');
    expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Active, task_state: null });
    const first = (await getLiveMigration(db, s.migrationId))!;
    expect(first).toMatchObject({ status: 'error', live: { step: 'committed', sourceCleanup: 'pending' } });
    expect(first.live.outcome).toMatch(/source cleanup failed: source dir busy/);
    expect(events.at(-1)).toMatchObject({ status: 'error', outcome: first.live.outcome });

    calls = [];
    const back = await again(s, dst, { requestedHost: src });
    await expect(workflow.run(back, job())).resolves.toBe('done');
    expect(ops()).toEqual(['network-prepare@src', 'cleanupSource@src', 'prepare@src', 'start@dst', 'status@dst', 'finish@src', 'network-commit@src', 'cleanupSource@dst']);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'error', live: { sourceCleanup: 'done' } });
    expect(await getLiveMigration(db, back.migrationId)).toMatchObject({ status: 'completed' });
    expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
    expect(await held(s)).toEqual(['server@src']);
  });

  describe('force (Nova 2.30, or a host named before it)', () => {
    it('uses a requested host that a filter refuses (anti-affinity) as given, claiming its capacity', async () => {
      const groupId = randomUUID();
      const other = randomUUID();
      const s = await migrating({ force: true });
      await db.query(`INSERT INTO compute.server_groups (id, project_id, user_id, name, policy) VALUES ($1, 'p-lm', 'u', $2, 'anti-affinity')`, [groupId, `it-${tag}-gf`]);
      await db.query(
        `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, power_state, request_id, host_id)
         VALUES ($1, 'p-lm', 'u', $2, 'tiny', $3, 'active', 'running', 'req', $4)`,
        [other, `it-${tag}-${other}`, flavor, dst],
      );
      await db.query(`INSERT INTO compute.server_group_members (group_id, server_id) VALUES ($1, $2), ($1, $3)`, [groupId, s.serverId, other]);
      try {
        await expect(workflow.run(s, job())).resolves.toBe('done');
        expect(await server(s.serverId)).toEqual({ host_id: dst, vm_state: VmState.Active, task_state: null });
        expect(await held(s)).toEqual(['server@dst']);
      } finally {
        await db.query(`DELETE FROM compute.server_groups WHERE id = $1`, [groupId]);
      }
    });

    it.each([
      ['without room for the flavor', async () => undefined, /not enough free vCPU, RAM or disk/],
      ['down', async () => db.query(`UPDATE compute.hosts SET state = 'down' WHERE id = $1`, [full]), /unavailable/],
    ])('refuses a forced host %s: error, nothing claimed, the server stays', async (_what, arrange, outcome) => {
      await arrange();
      try {
        const s = await migrating({ requestedHost: full, force: true });
        await expect(workflow.run(s, job())).resolves.toBe('failed');
        expect(ops()).toEqual([]);
        expect(await held(s)).toEqual(['server@src']);
        expect(await server(s.serverId)).toEqual({ host_id: src, vm_state: VmState.Active, task_state: null });
        expect((await getLiveMigration(db, s.migrationId))!.live.outcome).toMatch(outcome);
      } finally {
        await db.query(`UPDATE compute.hosts SET state = 'up' WHERE id = $1`, [full]);
      }
    });
  });

  it('does nothing for a server that left the migrating state (deleted meanwhile)', async () => {
    const s = await migrating();
    await db.query(`UPDATE compute.servers SET task_state = $2 WHERE id = $1`, [s.serverId, TaskState.Deleting]);
    await expect(workflow.run(s, job())).resolves.toBe('done');
    expect(ops()).toEqual([]);
    expect(await getLiveMigration(db, s.migrationId)).toMatchObject({ status: 'cancelled' });
  });
});
