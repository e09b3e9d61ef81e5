/**
 * bench:failover: 3 hosts, 6 HA servers on shared storage (a flavor with `nubo:ha=true`,
 * `nubo:storage=shared` and a 1 GB ephemeral disk, firmware-only so that QMP `running` is the
 * end), one host powered off (its agent and QEMUs killed -9) three times, each round a host that
 * has HA servers. Per round: detect (the host `down` in its state history), fence (`fenced`), and
 * recovered (every HA server of the dead host ACTIVE elsewhere with its QEMU answering QMP
 * `running`), all from the moment of the kill. Throughout, every server's QEMUs are counted
 * across every namespace (dual_runs: a server seen with two) and a server not back within 120 s
 * is lost. The floor for the same settings, in the same run: NUBO_HOST_DOWN_AFTER_MS plus the
 * raw start of the same QEMU (argv of a bench server, spawned by hand until QMP says running).
 * One JSON line on stdout.
 */
import { OpenStackClient, credentialsFromEnv } from '@nubo/client';
import { QmpClient } from '@nubo/qmp';
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client as PgClient } from 'pg';
import { median, sleep } from './bench-stats';

const ROUNDS = Number(process.env.NUBO_BENCH_FAILOVER_ROUNDS ?? 3);
const SERVERS = 6;
const RAW_N = 5;
const LOST_AFTER_MS = 120_000;
const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`[bench:failover] ${line}\n`);
const round = (n: number) => Math.round(n);

const stateDir = process.env.NUBO_STATE_DIR!;
const cloudName = process.env.NUBO_CLOUD_NAME ?? 'nubo-bench';
const downAfterMs = Number(process.env.NUBO_HOST_DOWN_AFTER_MS ?? 6_000);
const hostNs = (n: number) => `${cloudName}-h${n}`;
const hostNumber = (host: string) => Number(/-h(\d+)$/.exec(host)![1]);
const instanceDir = (host: string, id: string) => join(stateDir, 'hosts', `h${hostNumber(host)}`, 'instances', id);
const cloud = (...args: string[]) => execFileSync('bash', [join(__dirname, '../../../deploy/cloud.sh'), ...args], { stdio: ['ignore', 2, 2], env: process.env });

let client: OpenStackClient;
let db: PgClient;
const servers: string[] = [];
let flavorId = '';

/** Live QEMUs of a server, in any namespace (its id is in QEMU's -name and -uuid). */
function qemuCount(id: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes('qemu-system') && cmdline.includes(id)) found.push(Number(name));
    } catch {
      // Gone.
    }
  }
  return found;
}

async function qmpRunning(host: string, id: string): Promise<boolean> {
  const sock = join(instanceDir(host, id), 'qmp-ops.sock');
  if (!existsSync(sock)) return false;
  try {
    const qmp = await QmpClient.connect(sock, { timeoutMs: 1_000 });
    try {
      return (await qmp.queryStatus()).status === 'running';
    } finally {
      qmp.close();
    }
  } catch {
    return false;
  }
}

function powerOff(n: number): void {
  cloud('stop-agent', String(n), '--kill');
  for (const pid of execFileSync('ip', ['netns', 'pids', hostNs(n)], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/** When the host's history first reached `state` after `since` (ms epoch), or undefined. */
async function reached(host: string, state: string, since: number): Promise<number | undefined> {
  const { rows } = await db.query(`SELECT extract(epoch FROM at) * 1000 AS at FROM compute.host_state_history WHERE host_id = $1 AND to_state = $2 AND at >= to_timestamp($3 / 1000.0) ORDER BY id LIMIT 1`, [
    host,
    state,
    since,
  ]);
  return rows[0] ? Number(rows[0].at) : undefined;
}

async function hostsOf(): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const id of servers) map.set(id, (await client.getServer(id))['OS-EXT-SRV-ATTR:host']);
  return map;
}

/** The argv of a running bench QEMU, started again by hand until QMP says running (ms). */
async function rawStart(host: string, id: string): Promise<number> {
  const dir = instanceDir(host, id);
  const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1);
  const sharedDisks = join(stateDir, 'shared', 'instances', id);
  const tmp = await mkdtemp('/tmp/nbf-');
  const uuid = randomUUID();
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(tmp, 'ephemeral.qcow2'), '1G']);
  const args = argv.map((a) => a.split(sharedDisks).join(tmp).split(dir).join(tmp).split(id).join(uuid));
  const out = openSync(join(tmp, 'stderr.log'), 'a');
  const t0 = performance.now();
  let child: ChildProcess | undefined;
  let qmp: QmpClient | undefined;
  try {
    child = spawn('ip', ['netns', 'exec', hostNs(hostNumber(host)), 'qemu-system-x86_64', ...args], { stdio: ['ignore', out, out] });
    for (const deadline = Date.now() + 30_000; !qmp; ) {
      try {
        qmp = await QmpClient.connect(join(tmp, 'qmp.sock'), { timeoutMs: 2_000 });
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) throw error;
        await sleep(5);
      }
    }
    while ((await qmp.queryStatus()).status !== 'running') await sleep(5);
    return performance.now() - t0;
  } finally {
    closeSync(out);
    await qmp?.execute('quit').catch(() => undefined);
    qmp?.close();
    if (child && child.exitCode === null) await new Promise((r) => (child!.once('exit', r), setTimeout(() => child!.kill('SIGKILL'), 3_000)));
    await rm(tmp, { recursive: true, force: true });
  }
}

async function waitState(host: string, state: string): Promise<void> {
  for (const deadline = Date.now() + 60_000; ; ) {
    const { rows } = await db.query(`SELECT state FROM compute.hosts WHERE id = $1`, [host]);
    if (rows[0]?.state === state) return;
    if (Date.now() > deadline) throw new Error(`${host} is ${rows[0]?.state}, not ${state}, after 60 s`);
    await sleep(200);
  }
}

async function main(): Promise<void> {
  client = await new OpenStackClient(credentialsFromEnv()).login();
  db = new PgClient({ connectionString: process.env.NUBO_DATABASE_URL });
  await db.connect();
  await client.call('PUT', `/compute/v2.1/os-quota-sets/${client.projectId}`, 200, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  await client.call('PUT', '/nubo/v1/failover', 200, { failover: { enabled: true } });
  const { flavor } = await client.call('POST', '/compute/v2.1/flavors', 200, {
    flavor: { name: `bench-ha-${Date.now().toString(36)}`, vcpus: 1, ram: 64, disk: 0, 'OS-FLV-EXT-DATA:ephemeral': 1 },
  });
  flavorId = flavor.id;
  await client.call('POST', `/compute/v2.1/flavors/${flavorId}/os-extra_specs`, 200, { extra_specs: { 'nubo:ha': 'true', 'nubo:storage': 'shared' } });
  for (let i = 0; i < SERVERS; i++) {
    const { server } = await client.call('POST', '/compute/v2.1/servers', 202, { server: { name: `bench-ha-${i}`, flavorRef: flavorId } });
    servers.push(server.id);
  }
  for (const id of servers) await client.waitForStatus(id, 'ACTIVE', 120_000);
  log(`${SERVERS} HA servers ACTIVE`);

  const raw: number[] = [];
  const placed = await hostsOf();
  for (let i = 0; i < RAW_N; i++) {
    const [id, host] = [...placed.entries()][i % SERVERS];
    raw.push(await rawStart(host, id));
  }
  const rawStartMs = median(raw);
  const floor = downAfterMs + rawStartMs;
  log(`raw QEMU start p50 ${rawStartMs.toFixed(0)} ms; floor ${floor.toFixed(0)} ms (NUBO_HOST_DOWN_AFTER_MS ${downAfterMs})`);

  const detect: number[] = [];
  const fence: number[] = [];
  const recovered: number[] = [];
  let dualRuns = 0;
  let lost = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const where = await hostsOf();
    const counts = new Map<string, number>();
    for (const host of where.values()) counts.set(host, (counts.get(host) ?? 0) + 1);
    // The host with the most HA servers (ties: the lowest number): every round kills real work.
    const victim = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
    const moving = [...where.entries()].filter(([, h]) => h === victim).map(([id]) => id);
    const n = hostNumber(victim);
    const t0 = Date.now();
    powerOff(n);
    log(`round ${r + 1}: ${victim} powered off with ${moving.length} HA servers`);
    const back = new Map<string, number>();
    while (back.size < moving.length && Date.now() - t0 < LOST_AFTER_MS) {
      for (const id of servers) if (qemuCount(id).length > 1) dualRuns++;
      for (const id of moving) {
        if (back.has(id)) continue;
        const s = await client.getServer(id);
        const host = s['OS-EXT-SRV-ATTR:host'];
        if (s.status === 'ACTIVE' && host !== victim && !s['OS-EXT-STS:task_state'] && (await qmpRunning(host, id))) back.set(id, Date.now() - t0);
      }
      await sleep(50);
    }
    lost += moving.length - back.size;
    const d = await reached(victim, 'down', t0);
    const f = await reached(victim, 'fenced', t0);
    if (d !== undefined) detect.push(d - t0);
    if (f !== undefined) fence.push(f - t0);
    if (back.size === moving.length) recovered.push(Math.max(...back.values()));
    log(`round ${r + 1}: detect ${d === undefined ? '-' : round(d - t0)} ms, fence ${f === undefined ? '-' : round(f - t0)} ms, all back ${back.size === moving.length ? Math.max(...back.values()) : 'NOT'} ms`);
    // The host comes back powered on and is enabled by an admin, as after a real failure.
    // Its agent is refused (the host was fenced) and the host waits, disabled, for the admin.
    cloud('start-agent', String(n));
    await waitState(victim, 'disabled');
    await client.call('PUT', '/compute/v2.1/os-services/enable', 200, { host: victim, binary: 'nova-compute' });
    await waitState(victim, 'up');
  }
  const recoveredP50 = median(recovered);
  process.stdout.write(
    `${JSON.stringify({
      name: 'failover',
      servers: SERVERS,
      detect_ms_p50: round(median(detect)),
      fence_ms_p50: round(median(fence)),
      recovered_ms_p50: round(recoveredP50),
      floor_ms: round(floor),
      ratio: Math.round((recoveredP50 / floor) * 100) / 100,
      dual_runs: dualRuns,
      lost,
    })}\n`,
  );
}

main()
  .catch((error) => {
    log(`failed: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const id of servers) await client?.request('DELETE', `/compute/v2.1/servers/${id}`).catch(() => undefined);
    if (flavorId) await client?.request('DELETE', `/compute/v2.1/flavors/${flavorId}`).catch(() => undefined);
    await db?.end().catch(() => undefined);
  });
