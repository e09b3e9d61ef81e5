/**
 * bench:placement: the scheduler's placement path at scale, against a fresh database (deploy/bench.sh
 * placement). 1000 hosts are written straight into compute.hosts with the inventories simulated
 * agents report (NUBO_AGENT_SIMULATED_HOSTS, same seed): this measures the scheduler's decisions
 * and claims, not heartbeats or NATS. 10,000 servers of mixed flavors (some in hard anti-affinity
 * groups, some asking for a zone or a trait) are placed by 4 schedulers, each a PlacementService
 * on its own worker thread (as separate scheduler processes would be) with its own connection
 * pool, host cache and claim batcher, 16 placements in flight each (the scheduler's job
 * concurrency; NUBO_BENCH_IN_FLIGHT=n to change it): their latencies include the wait behind the
 * others on this 2-core machine. A third of each host's RAM is reserved, so the run
 * ends with hosts full and claims refused on stale numbers. Then, by SQL: hosts over capacity,
 * anti-affinity violations, counters that drifted from the allocations (must be none). And the raw ceiling: the minimal claim transaction
 * (one UPDATE of a host row with a generation check) looped by 4 connections for the same count,
 * measured before and after the placements (the mean is reported: the machine is shared).
 * Progress on stderr, one JSON line on stdout.
 */
import { Logger } from '@nestjs/common';
import { NoValidHostError, PowerState, TaskState, VmState } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Client, Pool } from 'pg';
import { simulatedHostId, simulatedInventory } from '../../apps/compute-agent/src/simulation/simulated-inventory';
import { usageDrift } from '../../apps/scheduler/src/placement/host-usage';
import { PlacementInput, PlacementService } from '../../apps/scheduler/src/placement/placement.service';

const HOSTS = Number(process.env.NUBO_BENCH_HOSTS ?? 1000);
const PLACEMENTS = Number(process.env.NUBO_BENCH_PLACEMENTS ?? 10_000);
const WORKERS = 4;
/** Threads the schedulers run on (WORKERS / THREADS each): one per scheduler is what separate processes would be. */
const THREADS = Number(process.env.NUBO_BENCH_THREADS ?? WORKERS);
/** Placements in flight per scheduler: the scheduler's job concurrency (NUBO_SCHEDULER_CONCURRENCY's default). */
const IN_FLIGHT = Number(process.env.NUBO_BENCH_IN_FLIGHT ?? 16);
const SUBSET = Number(process.env.NUBO_BENCH_HOST_SUBSET_SIZE ?? 1);
/** The scheduler's NUBO_SCHEDULER_HOST_CACHE_MS (its default unless set). */
const CACHE_MS = Number(process.env.NUBO_BENCH_HOST_CACHE_MS ?? 250);
const GROUPS = 100;
const GROUP_SIZE = 5;
const SEED = 42;
const log = (line: string) => process.stderr.write(`[bench:placement] ${line}\n`);

const FLAVORS = [
  { name: 'm1.tiny', vcpus: 1, ramMb: 512, diskGb: 1, weight: 30 },
  { name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20, weight: 30 },
  { name: 'm1.medium', vcpus: 2, ramMb: 4096, diskGb: 40, weight: 20 },
  { name: 'm1.large', vcpus: 4, ramMb: 8192, diskGb: 80, weight: 15 },
  { name: 'm1.xlarge', vcpus: 8, ramMb: 16384, diskGb: 160, weight: 5 },
];

/** Deterministic choices (the same servers on every run). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

type Flavor = (typeof FLAVORS)[number];

interface Job {
  serverId: string;
  flavor: Flavor;
  input: PlacementInput;
}

async function setup(pool: Pool): Promise<Job[]> {
  const ids = Array.from({ length: HOSTS }, (_, i) => simulatedHostId('bench', i + 1));
  const inventories = ids.map((_, i) => simulatedInventory(SEED, i + 1));
  await pool.query(
    // A third of each host's RAM reserved (Placement's `reserved`): the servers fill ~88% of the rest.
    `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, reserved_ram_mb, last_heartbeat_at, agent_started_at)
     SELECT id, 'up', 'kvm', v, r, d, r / 3, now(), now() FROM unnest($1::text[], $2::int[], $3::int[], $4::int[]) AS t(id, v, r, d)`,
    [ids, inventories.map((c) => c.vcpus), inventories.map((c) => c.ramMb), inventories.map((c) => c.diskGb)],
  );
  // Two zones of half the hosts each; one host in ten has an SSD trait.
  for (const [zone, from, to] of [['az1', 0, HOSTS / 2], ['az2', HOSTS / 2, HOSTS]] as const) {
    const [{ id }] = (await pool.query(`INSERT INTO compute.aggregates (uuid, name, availability_zone) VALUES ($1, $2, $2) RETURNING id`, [randomUUID(), zone])).rows;
    await pool.query(`INSERT INTO compute.aggregate_hosts (aggregate_id, host_id) SELECT $1, unnest($2::text[])`, [id, ids.slice(from, to)]);
  }
  await pool.query(`INSERT INTO compute.host_traits (host_id, trait, source) SELECT unnest($1::text[]), 'CUSTOM_SSD', 'admin'`, [
    ids.filter((_, i) => i % 10 === 0),
  ]);

  const random = rng(SEED);
  const totalWeight = FLAVORS.reduce((sum, f) => sum + f.weight, 0);
  const flavorOf = () => {
    let x = random() * totalWeight;
    return FLAVORS.find((f) => (x -= f.weight) < 0) ?? FLAVORS[0];
  };
  const jobs = Array.from({ length: PLACEMENTS }, (): Job => {
    const flavor = flavorOf();
    const draw = random();
    return {
      serverId: randomUUID(),
      flavor,
      input: {
        projectId: 'bench',
        vcpus: flavor.vcpus,
        ramMb: flavor.ramMb,
        diskGb: flavor.diskGb,
        availabilityZone: draw < 0.2 ? 'az1' : draw < 0.3 ? 'az2' : null,
        extraSpecs: draw > 0.95 ? ({ 'trait:CUSTOM_SSD': 'required' } as Record<string, string>) : {},
      },
    };
  });
  await pool.query(
    `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id)
     SELECT id, 'bench', 'bench', 'bench', f->>'name', f, $3, $4, $5, 'req-bench' FROM unnest($1::uuid[], $2::jsonb[]) AS t(id, f)`,
    [
      jobs.map((j) => j.serverId),
      jobs.map(({ flavor: { name, vcpus, ramMb, diskGb } }) => JSON.stringify({ name, vcpus, ramMb, diskGb })),
      VmState.Building,
      TaskState.Scheduling,
      PowerState.NoState,
    ],
  );
  // Hard anti-affinity groups spread through the queue, each over neighbours in it: its members are claimed at once.
  for (let g = 0; g < GROUPS; g++) {
    const groupId = randomUUID();
    await pool.query(`INSERT INTO compute.server_groups (id, project_id, user_id, name, policy) VALUES ($1, 'bench', 'bench', $2, 'anti-affinity')`, [
      groupId,
      `bench-${g}`,
    ]);
    const start = g * Math.floor(PLACEMENTS / GROUPS);
    const members = jobs.slice(start, start + GROUP_SIZE).map((j) => j.serverId);
    await pool.query(`INSERT INTO compute.server_group_members (group_id, server_id) SELECT $1, unnest($2::uuid[])`, [groupId, members]);
  }
  return jobs;
}

interface WorkerInput {
  url: string;
  jobs: Job[];
  /** The next job's index, shared by the threads (Atomics). */
  next: SharedArrayBuffer;
  /** The schedulers this thread runs. */
  indexes: number[];
}

interface WorkerResult {
  latencies: number[];
  counts: { placed: number; noValidHost: number; gone: number };
  loads: number;
  lostClaims: number;
  statements: number;
}

/** A worker thread's schedulers: each a PlacementService with its own pool and cache, IN_FLIGHT claims at once. */
async function scheduler({ url, jobs, next, indexes }: WorkerInput): Promise<void> {
  Logger.overrideLogger(['error']);
  const sources = await Promise.all(
    indexes.map((index) =>
      createDataSource({ url, schemas: ['compute'], applicationName: `bench-scheduler-${index}`, poolSize: 4 }).initialize(),
    ),
  );
  const schedulers = sources.map((ds) => new PlacementService(ds, { NUBO_SCHEDULER_HOST_SUBSET_SIZE: SUBSET, NUBO_SCHEDULER_HOST_CACHE_MS: CACHE_MS }));
  await Promise.all(schedulers.map((s) => s.hosts.get()));
  const counter = new Int32Array(next);
  const result: WorkerResult = { latencies: [], counts: { placed: 0, noValidHost: 0, gone: 0 }, loads: 0, lostClaims: 0, statements: 0 };
  await new Promise<void>((resolve) => {
    parentPort!.once('message', () => resolve());
    parentPort!.postMessage('ready');
  });
  const loop = async (placement: PlacementService) => {
    for (let i = Atomics.add(counter, 0, 1); i < jobs.length; i = Atomics.add(counter, 0, 1)) {
      const t0 = process.hrtime.bigint();
      try {
        const host = await placement.claimForServer(jobs[i].serverId, jobs[i].input);
        result.counts[host ? 'placed' : 'gone']++;
      } catch (error) {
        if (!(error instanceof NoValidHostError)) throw error;
        result.counts.noValidHost++;
      }
      result.latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if ((i + 1) % 2000 === 0) log(`${i + 1} decisions`);
    }
  };
  await Promise.all(schedulers.flatMap((s) => Array.from({ length: IN_FLIGHT }, () => loop(s))));
  result.loads = schedulers.reduce((sum, s) => sum + s.hosts.loads, 0);
  result.lostClaims = schedulers.reduce((sum, s) => sum + s.lostClaims, 0);
  result.statements = schedulers.reduce((sum, s) => sum + s.batcher.statements, 0);
  await Promise.all(sources.map((ds) => ds.destroy()));
  parentPort!.postMessage(result);
}

/** Placements by WORKERS schedulers, started together; every claim's latency. */
async function place(url: string, jobs: Job[]) {
  const next = new SharedArrayBuffer(4);
  const workers = Array.from({ length: THREADS }, (_, thread) => {
    const indexes = Array.from({ length: WORKERS }, (_, i) => i).filter((i) => i % THREADS === thread);
    return new Worker(__filename, { workerData: { url, jobs, next, indexes } satisfies WorkerInput });
  });
  const messages = workers.map((w) => {
    const queue: unknown[] = [];
    const waiting: Array<(m: unknown) => void> = [];
    w.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
    w.on('error', (error) => {
      process.stderr.write(`[bench:placement] a scheduler failed: ${error.stack ?? error.message}\n`);
      process.exit(1);
    });
    return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)));
  });
  await Promise.all(messages.map((m) => m()));
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  workers.forEach((w) => w.postMessage('go'));
  const results = (await Promise.all(messages.map((m) => m()))) as WorkerResult[];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { user, system } = process.cpuUsage(cpu);
  await Promise.all(workers.map((w) => w.terminate()));
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const counts = { placed: 0, noValidHost: 0, gone: 0 };
  for (const r of results) for (const k of Object.keys(counts) as Array<keyof typeof counts>) counts[k] += r.counts[k];
  const sum = (key: 'loads' | 'lostClaims' | 'statements') => results.reduce((total, r) => total + r[key], 0);
  return { seconds, counts, latencies, loads: sum('loads'), lostClaims: sum('lostClaims'), statements: sum('statements'), cpuMs: (user + system) / 1000 };
}

/** The raw ceiling: one UPDATE with a generation compare-and-set per claim, 4 connections, prepared. */
async function rawClaims(url: string, count: number): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      const c = new Client({ connectionString: url, application_name: 'bench-raw' });
      await c.connect();
      return c;
    }),
  );
  const known = new Map<string, string>(
    (await clients[0].query<{ id: string; generation: string }>(`SELECT id, generation FROM compute.hosts`)).rows.map((r) => [r.id, r.generation]),
  );
  const ids = [...known.keys()];
  const random = rng(SEED + 1);
  const started = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (client) => {
      const generations = new Map(known);
      for (let i = 0; i < count / WORKERS; i++) {
        const id = ids[Math.floor(random() * ids.length)];
        for (;;) {
          const { rows } = await client.query<{ generation: string }>({
            name: 'raw-claim',
            text: `UPDATE compute.hosts SET generation = generation + 1 WHERE id = $1 AND generation = $2 RETURNING generation`,
            values: [id, generations.get(id)],
          });
          if (rows.length === 1) {
            generations.set(id, rows[0].generation);
            break;
          }
          const fresh = await client.query<{ generation: string }>({ name: 'raw-read', text: `SELECT generation FROM compute.hosts WHERE id = $1`, values: [id] });
          generations.set(id, fresh.rows[0].generation);
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(clients.map((c) => c.end()));
  return count / seconds;
}

/**
 * CPU seconds PostgreSQL's processes used so far (the postmaster and its children, live and
 * reaped), read from /proc when the database runs on this machine (deploy/bench.sh): to show
 * where a placement's time goes. Undefined when /proc does not have it.
 */
function postgresCpuSeconds(postmasterPid: number | undefined): number | undefined {
  if (!postmasterPid) return undefined;
  try {
    const ticksOf = (pid: string) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    let ticks = ticksOf(String(postmasterPid)).slice(11, 15).reduce((sum, t) => sum + Number(t), 0);
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const fields = ticksOf(pid);
        if (Number(fields[1]) === postmasterPid) ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // gone meanwhile
      }
    }
    return ticks / 100;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  Logger.overrideLogger(['error']);
  const url = process.env.NUBO_DATABASE_URL;
  if (!url) throw new Error('NUBO_DATABASE_URL is not set (run through deploy/bench.sh placement)');
  const migrator = await createDataSource({ url, schemas: ['compute'], applicationName: 'bench-migrate', poolSize: 2 }).initialize();
  await migrateLocked(migrator);
  await migrator.destroy();
  const pool = new Pool({ connectionString: url, max: 2 });
  const [{ n }] = (await pool.query(`SELECT count(*)::int AS n FROM compute.hosts`)).rows;
  if (n !== 0) throw new Error('the bench database is not fresh (hosts exist)');

  log(`writing ${HOSTS} hosts and ${PLACEMENTS} servers (${GROUPS} anti-affinity groups of ${GROUP_SIZE})`);
  const jobs = await setup(pool);
  await pool.query('VACUUM ANALYZE compute.hosts');
  await pool.query('ANALYZE');
  const backend = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  const postmaster = (() => {
    try {
      return Number(readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    } catch {
      return undefined;
    }
  })();

  log(`raw claim ceiling (before), ${WORKERS} connections`);
  const [pgRaw0, cpuRaw0] = [postgresCpuSeconds(postmaster), process.cpuUsage()];
  const rawBefore = await rawClaims(url, PLACEMENTS);
  const [pgRaw1, cpuRaw1] = [postgresCpuSeconds(postmaster), process.cpuUsage(cpuRaw0)];
  if (pgRaw0 !== undefined && pgRaw1 !== undefined) {
    log(`CPU per raw claim: client ${round((cpuRaw1.user + cpuRaw1.system) / 1000 / PLACEMENTS, 3)} ms, PostgreSQL ${round(((pgRaw1 - pgRaw0) * 1000) / PLACEMENTS, 3)} ms`);
  }
  log(`placing: ${WORKERS} schedulers on ${THREADS} thread(s) x ${IN_FLIGHT} claims in flight, host subset ${SUBSET}, cache ${CACHE_MS} ms`);
  const pgBefore = postgresCpuSeconds(postmaster);
  const run = await place(url, jobs);
  const pgAfter = postgresCpuSeconds(postmaster);
  log(`raw claim ceiling (after), ${WORKERS} connections`);
  const rawAfter = await rawClaims(url, PLACEMENTS);

  const [{ over }] = (
    await pool.query(
      `SELECT count(*)::int AS over FROM compute.hosts h
         JOIN (SELECT host_id, SUM(vcpus) v, SUM(ram_mb) r, SUM(disk_gb) d FROM compute.allocations GROUP BY host_id) a ON a.host_id = h.id
        WHERE a.v > floor((h.vcpus - h.reserved_vcpus) * h.cpu_allocation_ratio) OR a.r > floor((h.ram_mb - h.reserved_ram_mb) * h.ram_allocation_ratio)
           OR a.d > floor((h.disk_gb - h.reserved_disk_gb) * h.disk_allocation_ratio)`,
    )
  ).rows;
  const [{ violations }] = (
    await pool.query(
      `SELECT count(*)::int AS violations FROM (
         SELECT m.group_id, s.host_id FROM compute.server_group_members m
           JOIN compute.server_groups g ON g.id = m.group_id AND g.policy = 'anti-affinity'
           JOIN compute.servers s ON s.id = m.server_id AND s.host_id IS NOT NULL
          GROUP BY m.group_id, s.host_id HAVING count(*) > 1) x`,
    )
  ).rows;
  const [fill] = (
    await pool.query<{ ram: number; full: number }>(
      `SELECT round(100.0 * SUM(used_ram_mb) / SUM(ram_mb - reserved_ram_mb))::int AS ram,
              count(*) FILTER (WHERE ram_mb - reserved_ram_mb - used_ram_mb < 16384)::int AS full FROM compute.hosts`,
    )
  ).rows;
  log(`RAM ${fill.ram}% used; ${fill.full} hosts without room for the largest flavor`);
  const drift = await usageDrift(pool);
  if (drift.length) throw new Error(`usage counters drifted from the allocations on ${drift.length} host(s), e.g. ${JSON.stringify(drift[0])}`);
  const [{ allocations }] = (await pool.query(`SELECT count(*)::int AS allocations FROM compute.allocations`)).rows;
  if (allocations !== run.counts.placed) throw new Error(`${run.counts.placed} placements but ${allocations} allocations`);
  await pool.end();

  const placementsPerS = run.counts.placed / run.seconds;
  const dbClaimsPerS = (rawBefore + rawAfter) / 2;
  log(
    `placed ${run.counts.placed}, NoValidHost ${run.counts.noValidHost}, in ${round(run.seconds)} s; ${run.loads} host loads, ` +
      `${run.lostClaims} claims refused by a host that changed after the decision; ${run.statements} claim statements ` +
      `(${round(PLACEMENTS / Math.max(1, run.statements), 1)} placements each); ` +
      `CPU per placement: schedulers ${round(run.cpuMs / PLACEMENTS, 3)} ms` +
      (pgBefore !== undefined && pgAfter !== undefined ? `, PostgreSQL ${round(((pgAfter - pgBefore) * 1000) / PLACEMENTS, 3)} ms; ` : '; ') +
      `raw ${round(rawBefore, 0)} / ${round(rawAfter, 0)} claims/s`,
  );
  process.stdout.write(
    `${JSON.stringify({
      name: 'placement',
      hosts: HOSTS,
      placements: PLACEMENTS,
      workers: WORKERS,
      placements_per_s: round(placementsPerS, 1),
      decision_p50_ms: round(percentile(run.latencies, 50)),
      decision_p99_ms: round(percentile(run.latencies, 99)),
      overcommitted_hosts: over,
      affinity_violations: violations,
      db_claims_per_s: round(dbClaimsPerS, 1),
      ratio: round(placementsPerS / dbClaimsPerS),
      no_valid_host: run.counts.noValidHost,
    })}\n`,
  );
}

(isMainThread ? main() : scheduler(workerData as WorkerInput)).catch((error: Error) => {
  process.stderr.write(`[bench:placement] failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
