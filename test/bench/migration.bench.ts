/**
 * bench:migration: live migration through the API next to the same migrations done with two QEMUs
 * and QMP alone (migration-raw.ts), in the same run, between hosts 1 and 2 of the bench cloud.
 * One untimed warm-up migration (the destination's image cache), then N timed ones back and forth,
 * each timed from the POST os-migrateLive (explicit host) until the server is ACTIVE on the
 * destination (no task state; its record past the switch-over, host and claims moved): the raw
 * side's clock stops when the destination runs too, and both remove the source QEMU after that,
 * before the next migration (the API's record is `completed` once it has: that time is reported as
 * api_completed_ms_p50). Downtime is QEMU's, from the record.
 *   idle:  firmware-only, 1024 MiB, KVM
 *   dirty: the Linux test guest (TCG) running `memwriter` (dirty rate measured by the pre-flight)
 *   block: firmware-only, KVM, a 1 GiB root disk of random data (block migration over NBD)
 * The record's steps are sampled from the database for a breakdown on stderr, with the workflow's
 * own step times (live.timings) per migration. One JSON line on stdout. NUBO_BENCH_MIGRATION_N sets
 * the number of timed migrations (5), NUBO_BENCH_MIGRATION_ONLY the scenarios (idle,dirty,block).
 */
import { OpenStackClient, credentialsFromEnv } from '@nubo/client';
import { loadConfig } from '@nubo/config';
import { MigrationParameters } from '@nubo/contracts';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client as Pg } from 'pg';
import { liveMigrationSchema } from '../../apps/scheduler/src/workflows/server-live-migrate-policy';
import { Captured, RawHost, RawMigrationRun, RawVm, migrateRaw, newUuid, rawDirtyRate, startVm, stopAllVms, stopVm } from './migration-raw';
import { median, now, round2 as round, sleep } from './bench-stats';

const N = Number(process.env.NUBO_BENCH_MIGRATION_N ?? 5);
/** Scenarios to run (comma-separated, while iterating): idle, dirty, block; all by default. */
const ONLY = new Set((process.env.NUBO_BENCH_MIGRATION_ONLY ?? 'idle,dirty,block').split(',').map((s) => s.trim()));
const MEMWRITER = process.env.NUBO_BENCH_MEMWRITER ?? 'memwriter 64 32 1';
const POLL_MS = 10;
const MiB = 2 ** 20;
const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`[bench:migration] ${line}\n`);

const stateDir = process.env.NUBO_STATE_DIR!;
const cloudName = process.env.NUBO_CLOUD_NAME ?? 'nubo-bench';
const lm = loadConfig(liveMigrationSchema);
/** The parameters the workflow hands the source agent (a flavor without extra specs). */
const params: MigrationParameters = {
  multifdChannels: lm.NUBO_LIVE_MIGRATION_MULTIFD_CHANNELS,
  postcopyAllowed: false,
  maxBandwidthBytesPerSec: lm.NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS * MiB,
  downtimeLimitMs: lm.NUBO_LIVE_MIGRATION_DOWNTIME_MS,
  autoConverge: true,
};

let client: OpenStackClient;
let db: Pg;
const servers = new Set<string>();
const flavors = new Set<string>();
const images = new Set<string>();
const tempDirs = new Set<string>();

interface Host extends RawHost {
  id: string;
  n: string;
}

interface Series {
  total: number[];
  downtime: number[];
  /** API only: until the record is completed (the source QEMU removed). */
  completed?: number[];
}

async function createFlavor(name: string, ram: number, disk: number): Promise<string> {
  const { flavor } = await client.call('POST', '/compute/v2.1/flavors', 200, { flavor: { name: `${name}-${Date.now().toString(36)}`, ram, vcpus: 1, disk } });
  flavors.add(flavor.id);
  return flavor.id;
}

async function uploadImage(file: string, name: string, properties: Record<string, string>): Promise<string> {
  const image = await client.call('POST', '/image/v2/images', 201, { name: `${name}-${Date.now().toString(36)}`, disk_format: 'qcow2', container_format: 'bare', ...properties });
  images.add(image.id);
  await client.uploadImageFile(image.id, file);
  return image.id;
}

async function deleteServer(id: string): Promise<void> {
  await client.request('DELETE', `/compute/v2.1/servers/${id}`);
  await client.waitForGone(id, 120_000);
  servers.delete(id);
}

const instanceDir = (host: Host, id: string) => join(stateDir, 'hosts', `h${host.n}`, 'instances', id);

/** The argv of the server's running QEMU and its writable disks. */
async function capture(host: Host, id: string): Promise<Captured> {
  const dir = instanceDir(host, id);
  const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (argv.at(-1) === '') argv.pop();
  argv.shift();
  const nodes = argv.flatMap((a, i) => (argv[i - 1] === '-blockdev' && a.startsWith('{') ? [JSON.parse(a)] : []));
  const baseFile = nodes.find((n) => n.driver === 'file' && n['read-only'] && !String(n.filename).startsWith(dir));
  const baseFormat = baseFile && nodes.find((n) => n.file === baseFile['node-name']);
  const base = baseFile && baseFormat ? { path: String(baseFile.filename), format: String(baseFormat.driver) } : undefined;
  const disks: Captured['disks'] = [];
  for (const fileNode of nodes.filter((n) => n.driver === 'file' && String(n.filename).startsWith(dir))) {
    const format = nodes.find((n) => n.file === fileNode['node-name']);
    if (!format) continue;
    const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', fileNode.filename]);
    disks.push({ node: format['node-name'], file: String(fileNode.filename).slice(dir.length + 1), base: format.backing ? base : undefined, bytes: JSON.parse(stdout)['virtual-size'] });
  }
  return { argv, instanceDir: dir, serverId: id, disks };
}

/** Types a line into the guest's console shell through a serial socket. */
function typeOn(socketPath: string, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    socket.once('error', reject);
    socket.once('connect', () => socket.end(`${line}\n`, () => setTimeout(() => socket.destroy(), 200)));
    socket.once('close', () => resolve());
  });
}

async function waitFile(file: string, text: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(file) && (await readFile(file, 'utf8')).includes(text))) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in ${file}`);
    await sleep(100);
  }
}

/** One API live migration, timed; the record's steps as first seen (ms after the POST). */
interface ApiRun {
  totalMs: number;
  downtimeMs: number;
  completedMs: number;
  /** The record's live.timings (and poll count), when the workflow keeps them. */
  timings: Record<string, number>;
}

/** `step@ms` in time order (the poll count last). */
const COUNTS = ['polls', 'poll-rpc-max', 'poll-rpc-total'];
const timeline = (t: Record<string, number>) =>
  Object.entries(t)
    .filter(([k]) => !COUNTS.includes(k))
    .sort(([, a], [, b]) => a - b)
    .map(([k, v]) => `${k}@${v}`)
    .concat(COUNTS.filter((k) => t[k] !== undefined).map((k) => `${k}=${t[k]}`))
    .join(' ');

async function migrateApi(id: string, dest: Host, block: boolean, steps: Map<string, number[]>): Promise<ApiRun> {
  const seen = new Map<string, number>();
  const t0 = now();
  await client.call('POST', `/compute/v2.1/servers/${id}/action`, 202, { 'os-migrateLive': { host: dest.id, block_migration: block, disk_over_commit: false } });
  seen.set('posted', now() - t0);
  const deadline = Date.now() + 600_000;
  let done = false;
  let record: { status: string; step: string | null; downtime: string | null; phase: string | null; polled: string | null } | undefined;
  const polls = new Set<string>();
  const sampler = (async () => {
    while (!done) {
      const { rows } = await db.query(
        `SELECT status, live->>'step' AS step, live->>'downtimeMs' AS downtime, progress->>'phase' AS phase, progress->>'at' AS polled
           FROM compute.migrations WHERE server_id = $1 ORDER BY number DESC LIMIT 1`,
        [id],
      );
      record = rows[0];
      if (record) {
        const key = `${record.status}/${record.step ?? '-'}${record.phase ? `/${record.phase}` : ''}`;
        if (record.polled) polls.add(record.polled);
        if (!seen.has(key)) seen.set(key, now() - t0);
      }
      await sleep(POLL_MS);
    }
  })();
  try {
    for (;;) {
      const server = await client.getServer(id);
      if (server.status === 'ACTIVE' && server['OS-EXT-STS:task_state'] === null) {
        const latest = async () =>
          (
            await db.query(
              `SELECT status, live->>'step' AS step, live->>'downtimeMs' AS downtime, live->'timings' AS timings, live->>'polls' AS polled,
                      live->'pollRpcMs' AS rpc
                 FROM compute.migrations WHERE server_id = $1 ORDER BY number DESC LIMIT 1`,
              [id],
            )
          ).rows[0];
        const moved = await latest();
        const committed = moved?.step === 'committed' && ['post-migrating', 'completed'].includes(moved.status);
        if (committed && server['OS-EXT-SRV-ATTR:host'] === dest.id) {
          const totalMs = now() - t0;
          // Untimed: the source QEMU goes before the next migration (as the raw side stops its source).
          let last = moved;
          while (last.status === 'post-migrating' && Date.now() < deadline) {
            await sleep(POLL_MS);
            last = await latest();
          }
          if (last.status !== 'completed') throw new Error(`migration of ${id} ended ${last.status} after the switch-over`);
          const completedMs = now() - t0;
          done = true;
          await sampler;
          for (const [k, v] of seen) steps.set(k, [...(steps.get(k) ?? []), v]);
          steps.set('polls(count)', [...(steps.get('polls(count)') ?? []), polls.size]);
          // The workflow's own step times (live.timings: ms after the record's creation, i.e. the POST), and its poll count.
          for (const [k, v] of Object.entries((last.timings ?? {}) as Record<string, number>)) steps.set(`t:${k}`, [...(steps.get(`t:${k}`) ?? []), v]);
          if (last.polled) steps.set('t:polls(count)', [...(steps.get('t:polls(count)') ?? []), Number(last.polled)]);
          const rpc = last.rpc ? { 'poll-rpc-max': last.rpc.max, 'poll-rpc-total': last.rpc.total } : {};
          return { totalMs, downtimeMs: Number(last.downtime), completedMs, timings: { ...(last.timings ?? {}), ...(last.polled ? { polls: Number(last.polled) } : {}), ...rpc } };
        }
        if (!moved || ['error', 'cancelled', 'completed'].includes(moved.status)) throw new Error(`migration of ${id} ended ${moved?.status} on ${server['OS-EXT-SRV-ATTR:host']}`);
      }
      if (server.status === 'ERROR' || Date.now() > deadline) throw new Error(`server ${id} is ${server.status}`);
      await sleep(POLL_MS);
    }
  } finally {
    done = true;
    await sampler.catch(() => undefined);
  }
}

function stepsLine(steps: Map<string, number[]>): string {
  return [...steps.entries()].map(([k, v]) => [k, median(v)] as const).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k}@${v.toFixed(0)}`).join(' ');
}

async function preflight(id: string): Promise<Record<string, unknown>> {
  const p = await client.call('GET', `/nubo/v1/servers/${id}/migration-preflight?seconds=2`, 200);
  log(`pre-flight of ${id}: ${JSON.stringify(p)}`);
  return p;
}

interface Scenario {
  name: string;
  flavorRef: string;
  imageRef?: string;
  /** The Linux guest: waits for its shell, then starts memwriter (API and raw alike). */
  linux: boolean;
}

async function scenario(s: Scenario, all: Host[]): Promise<{ api: Series; raw: Series; dirtyApi?: number; dirtyRaw?: number; rawError?: string; apiError?: string }> {
  // API: boot where the scheduler puts it, then back and forth to another host.
  const created = await client.call('POST', '/compute/v2.1/servers', 202, {
    server: { name: `bench-mig-${s.name}`, flavorRef: s.flavorRef, ...(s.imageRef ? { imageRef: s.imageRef } : {}) },
  });
  const id = created.server.id;
  servers.add(id);
  const server = await client.waitForStatus(id, 'ACTIVE', 300_000);
  const first = all.find((h) => h.id === server['OS-EXT-SRV-ATTR:host']);
  if (!first) throw new Error(`server ${id} landed on unknown host ${server['OS-EXT-SRV-ATTR:host']}`);
  const hosts: [Host, Host] = [first, all.find((h) => h !== first)!];
  log(`${s.name}: between ${hosts.map((h) => `${h.id} (${h.address} in ${h.netns})`).join(' and ')}`);
  let at = 0;
  const captured = await capture(hosts[at], id);
  const block = captured.disks.length > 0;
  let dirtyApi: number | undefined;
  if (s.linux) {
    await waitFile(join(captured.instanceDir, 'console.log'), 'NUBO-GUEST: ready');
    await typeOn(join(captured.instanceDir, 'serial.sock'), `${MEMWRITER} &`);
    await waitFile(join(captured.instanceDir, 'console.log'), 'NUBO-MEMWRITER: counter', 60_000);
  }
  // Measured before the series: on a QEMU that came in by migration calc-dirty-rate reads 0.
  const pre = await preflight(id);
  if (s.linux) dirtyApi = Number(pre.dirty_rate_mib_s);
  else if (pre.predicted_converges !== true) throw new Error(`the pre-flight predicts no convergence for the idle guest: ${JSON.stringify(pre)}`);
  const api: Series = { total: [], downtime: [], completed: [] };
  const steps = new Map<string, number[]>();
  let apiError: string | undefined;
  try {
    for (let i = 0; i <= N; i++) {
      const dest = hosts[1 - at];
      const r = await migrateApi(id, dest, block, i === 0 ? new Map() : steps);
      at = 1 - at;
      if (i === 0) {
        log(`${s.name} api warm-up to ${dest.id}: ${r.totalMs.toFixed(0)} ms (not counted)`);
        continue;
      }
      api.total.push(r.totalMs);
      api.downtime.push(r.downtimeMs);
      api.completed!.push(r.completedMs);
      log(`${s.name} api ${i}/${N} -> ${dest.id}: total ${r.totalMs.toFixed(1)} ms (record completed at ${r.completedMs.toFixed(0)} ms), downtime ${r.downtimeMs} ms; ${timeline(r.timings)}`);
    }
  } catch (error) {
    apiError = (error as Error).message;
    log(`${s.name} api failed: ${apiError}`);
  }
  log(`${s.name} api record steps, median ms after the POST: ${stepsLine(steps)}`);
  if (s.linux && !apiError) log(`${s.name} dirty rate after the series (a migrated-in QEMU): ${(await preflight(id)).dirty_rate_mib_s} MiB/s`);
  await deleteServer(id);

  // Raw: the same argv on the same two host namespaces.
  const uuid = newUuid();
  const raw: Series = { total: [], downtime: [] };
  let dirtyRaw: number | undefined;
  let vm: RawVm | undefined;
  let rawError: string | undefined;
  at = 0;
  try {
    vm = await startVm(captured, hosts[0], uuid, { incoming: false });
    if (s.linux) {
      await waitFile(join(vm.dir, 'console.log'), 'NUBO-GUEST: ready');
      await typeOn(join(vm.dir, 'serial.sock'), `${MEMWRITER} &`);
      await waitFile(join(vm.dir, 'console.log'), 'NUBO-MEMWRITER: counter', 60_000);
      dirtyRaw = await rawDirtyRate(vm, 2);
      log(`${s.name} raw dirty rate: ${dirtyRaw} MiB/s`);
    } else {
      while ((await vm.qmp.queryStatus()).status !== 'running') await sleep(POLL_MS);
    }
    for (let i = 0; i <= N; i++) {
      const dest = hosts[1 - at];
      let r: RawMigrationRun;
      ({ vm, result: r } = await migrateRaw(captured, vm!, dest, uuid, params));
      at = 1 - at;
      if (i === 0) continue;
      raw.total.push(r.totalMs);
      raw.downtime.push(r.downtimeMs);
      log(`${s.name} raw ${i}/${N} -> ${dest.id}: total ${r.totalMs.toFixed(1)} ms (QEMU ${r.qemuTotalMs} ms), downtime ${r.downtimeMs} ms`);
    }
  } catch (error) {
    // The API's numbers still count: the JSON carries the raw side's error instead of its numbers.
    rawError = (error as Error).message;
    log(`${s.name} raw failed: ${rawError}`);
  } finally {
    if (vm) await stopVm(vm).catch(() => undefined);
  }
  return { api, raw, dirtyApi, dirtyRaw, rawError, apiError };
}

const p50 = (values: number[]) => (values.length ? round(median(values)) : null);

function fields(r: { api: Series; raw: Series; rawError?: string; apiError?: string }, withDowntime: boolean): Record<string, number | string | null> {
  const a = r.api.total.length === N ? p50(r.api.total) : null;
  const w = r.raw.total.length === N ? p50(r.raw.total) : null;
  return {
    api_total_ms_p50: a,
    raw_total_ms_p50: w,
    total_ratio: a !== null && w !== null ? round(a / w) : null,
    api_completed_ms_p50: a !== null && r.api.completed?.length === N ? p50(r.api.completed) : null,
    ...(withDowntime ? { api_downtime_ms_p50: p50(r.api.downtime), raw_downtime_ms_p50: r.raw.downtime.length === N ? p50(r.raw.downtime) : null } : {}),
    ...(r.apiError ? { api_error: r.apiError.slice(0, 300) } : {}),
    ...(r.rawError ? { raw_error: r.rawError.slice(0, 300) } : {}),
  };
}

async function main(): Promise<void> {
  if (!stateDir) throw new Error('NUBO_STATE_DIR is not set (run through deploy/bench.sh)');
  client = await new OpenStackClient(credentialsFromEnv()).login();
  db = new Pg({ connectionString: process.env.NUBO_DATABASE_URL });
  await db.connect();
  await client.call('PUT', `/compute/v2.1/os-quota-sets/${client.projectId}`, 200, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  const { hosts: all } = await client.call('GET', '/nubo/v1/hosts', 200);
  const hosts: Host[] = all
    .filter((h: { state: string; underlay_ip?: string }) => h.state === 'up' && h.underlay_ip)
    .map((h: { id: string; underlay_ip: string }) => {
      const n = /(\d+)$/.exec(h.id)![1];
      return { id: h.id, n, netns: `${cloudName}-h${n}`, address: h.underlay_ip.replace(/\/\d+$/, '') };
    });
  if (hosts.length < 2) throw new Error(`two hosts with an underlay address are needed, found ${hosts.length}`);
  log(`parameters ${JSON.stringify(params)}`);
  const work = await mkdtemp(join(stateDir, 'bench-migration-'));
  tempDirs.add(work);
  try {
    const result: Record<string, unknown> = { name: 'migration' };
    if (ONLY.has('idle')) {
      const idle = await scenario({ name: 'idle', flavorRef: await createFlavor('bench-mig-1g', 1024, 0), linux: false }, hosts);
      result.idle = { ram_mib: 1024, ...fields(idle, true) };
    }
    if (ONLY.has('dirty')) {
      // The Linux test guest (TCG).
      const { stdout } = await run('bash', [join(__dirname, '../../../deploy/guest-image/build.sh'), join(stateDir, 'guest-image')], { timeout: 600_000, maxBuffer: 1 << 20 });
      const guestImage = await uploadImage(stdout.trim().split('\n').pop()!, 'bench-mig-guest', { hypervisor_type: 'qemu' });
      const dirty = await scenario({ name: 'dirty', flavorRef: await createFlavor('bench-mig-tcg', 512, 1), imageRef: guestImage, linux: true }, hosts);
      result.dirty = { ram_mib: 512, ...fields(dirty, true), dirty_mib_s: round(dirty.dirtyApi ?? NaN), raw_dirty_mib_s: round(dirty.dirtyRaw ?? NaN) };
    }
    if (ONLY.has('block')) {
      // A 1 GiB disk of random data (no OS: firmware only, KVM).
      const rawDisk = join(work, 'random.raw');
      await run('dd', ['if=/dev/urandom', `of=${rawDisk}`, 'bs=1M', 'count=1024', 'status=none']);
      await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', rawDisk, join(work, 'random.qcow2')]);
      await rm(rawDisk);
      const diskImage = await uploadImage(join(work, 'random.qcow2'), 'bench-mig-disk', {});
      await rm(join(work, 'random.qcow2'));
      const block = await scenario({ name: 'block', flavorRef: await createFlavor('bench-mig-disk', 256, 1), imageRef: diskImage, linux: false }, hosts);
      result.block = { disk_mib: 1024, ...fields(block, false), api_downtime_ms_p50: p50(block.api.downtime), raw_downtime_ms_p50: p50(block.raw.downtime) };
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await stopAllVms();
    for (const id of servers) await client.request('DELETE', `/compute/v2.1/servers/${id}`).catch(() => undefined);
    for (const id of servers) await client.waitForGone(id, 120_000).catch(() => undefined);
    for (const id of images) await client.request('DELETE', `/image/v2/images/${id}`).catch(() => undefined);
    for (const id of flavors) await client.request('DELETE', `/compute/v2.1/flavors/${id}`).catch(() => undefined);
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
    await db.end().catch(() => undefined);
  }
}

// Interrupted: the raw QEMUs (own process groups) go; the cloud's teardown takes the rest.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the raw QEMUs`);
    void stopAllVms().finally(() => process.exit(130));
  });
}

main().catch((error: Error) => {
  process.stderr.write(`[bench:migration] failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
