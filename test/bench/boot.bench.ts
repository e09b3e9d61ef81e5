/**
 * bench:boot: how long a boot through the API takes next to the same QEMU started by hand.
 * "running": 20 firmware-only m1.nano servers under KVM, one after another, each timed from
 * POST /servers until GET shows ACTIVE; and the identical argv (taken from /proc of an API-booted
 * QEMU, paths moved to a temp dir) spawned directly 20 times until QMP query-status says running.
 * "guest": the Linux test guest under TCG, timed until `NUBO-GUEST: booted` is on the console
 * (os-getConsoleOutput for the API; the console file for the raw runs, on a fresh overlay).
 * The first API guest boot fills the host's image cache and is not counted. One JSON line on stdout.
 */
import { OpenStackClient, credentialsFromEnv } from '@nubo/client';
import { QmpClient } from '@nubo/qmp';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { median, now, round2 as round, sleep } from './bench-stats';

const N = 20;
const N_GUEST = Number(process.env.NUBO_BENCH_GUEST_N ?? 5);
const MARKER = 'NUBO-GUEST: booted';
const POLL_MS = 15;
const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`[bench:boot] ${line}\n`);

/** What one API-booted QEMU ran: enough to start the same thing by hand. */
interface Captured {
  argv: string[];
  instanceDir: string;
  serverId: string;
  netns: string;
  /** Guest only: the cached base and the overlay's virtual size. */
  base?: string;
  diskBytes?: number;
}

const stateDir = process.env.NUBO_STATE_DIR!;
const cloudName = process.env.NUBO_CLOUD_NAME ?? 'nubo-bench';
const servers = new Set<string>();
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let client: OpenStackClient;

async function flavorId(name: string): Promise<string> {
  const { flavors } = await client.call('GET', '/compute/v2.1/flavors', 200);
  const flavor = flavors.find((f: { name: string }) => f.name === name);
  if (!flavor) throw new Error(`no flavor ${name}`);
  return flavor.id;
}

async function createServer(body: Record<string, unknown>): Promise<string> {
  const created = await client.call('POST', '/compute/v2.1/servers', 202, { server: body });
  servers.add(created.server.id);
  return created.server.id;
}

/** Wall-clock ms (Date.now) of the steps of one API boot, for the breakdown on stderr. */
interface Steps {
  post: number;
  posted?: number;
  spawning?: number;
  specWritten?: number;
  qemuPidfile?: number;
  active?: number;
  markerInFile?: number;
  markerInApi?: number;
}

/** The instance directory of a server on whichever host holds it. */
function findInstanceDir(id: string): string | undefined {
  for (let n = 1; n <= 16; n++) {
    const dir = join(stateDir, 'hosts', `h${n}`, 'instances', id);
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

const mtimeOf = (path: string) => (existsSync(path) ? statSync(path).mtimeMs : undefined);

async function waitActive(id: string, steps: Steps): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const { server } = await client.call('GET', `/compute/v2.1/servers/${id}`, 200);
    if (server.status === 'ACTIVE') break;
    if (server['OS-EXT-STS:task_state'] === 'spawning') steps.spawning ??= Date.now();
    if (server.status === 'ERROR') throw new Error(`server ${id} went to ERROR: ${JSON.stringify(server.fault)}`);
    if (Date.now() > deadline) throw new Error(`server ${id} still ${server.status}`);
    await sleep(POLL_MS);
  }
  steps.active = Date.now();
}

/** Fills in the file-based steps (agent wrote spec.json, QEMU wrote its pidfile). */
function fileSteps(id: string, steps: Steps): void {
  const dir = findInstanceDir(id);
  if (!dir) return;
  steps.specWritten = mtimeOf(join(dir, 'spec.json'));
  steps.qemuPidfile = mtimeOf(join(dir, 'qemu.pid'));
}

async function waitConsoleMarker(id: string, steps: Steps): Promise<void> {
  const deadline = Date.now() + 300_000;
  await waitActive(id, steps);
  fileSteps(id, steps);
  const consoleFile = join(findInstanceDir(id) ?? '/nonexistent', 'console.log');
  for (;;) {
    if (steps.markerInFile === undefined && existsSync(consoleFile) && readFileSync(consoleFile, 'utf8').includes(MARKER)) steps.markerInFile = Date.now();
    const reply = await client.request('POST', `/compute/v2.1/servers/${id}/action`, { body: { 'os-getConsoleOutput': {} } });
    if (reply.status === 200 && String(reply.body.output).includes(MARKER)) break;
    if (Date.now() > deadline) throw new Error(`no "${MARKER}" on the console of ${id}`);
    await sleep(POLL_MS);
  }
  steps.markerInApi = Date.now();
  steps.markerInFile ??= steps.markerInApi;
}

/** Medians of the step-to-step gaps, in ms. */
function breakdown(all: Steps[], keys: (keyof Steps)[]): string {
  const parts: string[] = [];
  for (let i = 1; i < keys.length; i++) {
    const gaps = all.map((s) => (s[keys[i]] ?? NaN) - (s[keys[i - 1]] ?? NaN)).filter((g) => !Number.isNaN(g));
    if (gaps.length) parts.push(`${keys[i - 1]}->${keys[i]} ${median(gaps).toFixed(1)}`);
  }
  return parts.join(', ');
}

async function deleteServer(id: string): Promise<void> {
  await client.request('DELETE', `/compute/v2.1/servers/${id}`);
  await client.waitForGone(id, 120_000);
  servers.delete(id);
}

/** The argv of the running QEMU of an API-booted server, and where it lives. */
async function capture(id: string): Promise<Captured> {
  const { server } = await client.call('GET', `/compute/v2.1/servers/${id}`, 200);
  const host: string | undefined = server['OS-EXT-SRV-ATTR:host'];
  if (!host) throw new Error('no OS-EXT-SRV-ATTR:host: the bench credentials must be admin');
  const n = /(\d+)$/.exec(host)![1];
  const instanceDir = join(stateDir, 'hosts', `h${n}`, 'instances', id);
  const pid = Number(readFileSync(join(instanceDir, 'qemu.pid'), 'utf8').trim());
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  argv.shift(); // the binary
  const captured: Captured = { argv, instanceDir, serverId: id, netns: `${cloudName}-h${n}` };
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-blockdev' || !argv[i + 1].startsWith('{')) continue;
    const node = JSON.parse(argv[i + 1]);
    if (node.driver === 'file' && node['read-only'] && !String(node.filename).startsWith(instanceDir)) captured.base = node.filename;
  }
  if (captured.base) {
    const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', join(instanceDir, 'disk.qcow2')]);
    captured.diskBytes = JSON.parse(stdout)['virtual-size'];
  }
  return captured;
}

/** Starts the captured argv in a fresh temp dir under a new uuid, as the agent starts QEMU. */
async function startRaw(c: Captured): Promise<{ dir: string; child: ChildProcess; exited: Promise<void> }> {
  const dir = await mkdtemp('/tmp/nbb-');
  tempDirs.add(dir);
  const uuid = randomUUID();
  const argv = c.argv.map((a) => a.split(c.instanceDir).join(dir).split(c.serverId).join(uuid));
  if (c.base) {
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', c.base, join(dir, 'disk.qcow2'), String(c.diskBytes)]);
  }
  const out = openSync(join(dir, 'qemu-stderr.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', c.netns, 'qemu-system-x86_64', ...argv], { detached: true, stdio: ['ignore', out, out] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } finally {
    closeSync(out);
  }
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => children.delete(child));
  return { dir, child, exited };
}

async function qmpConnect(path: string, child: ChildProcess): Promise<QmpClient> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('QEMU exited before QMP answered');
    try {
      return await QmpClient.connect(path, { timeoutMs: 5_000 });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(POLL_MS);
    }
  }
}

async function stopRaw(r: { dir: string; child: ChildProcess; exited: Promise<void> }, qmp?: QmpClient): Promise<void> {
  try {
    if (qmp?.isConnected) await qmp.execute('quit').catch(() => undefined);
    else r.child.kill('SIGTERM');
    const quit = await Promise.race([r.exited.then(() => true), sleep(5_000).then(() => false)]);
    if (!quit) {
      r.child.kill('SIGKILL');
      await r.exited;
    }
  } finally {
    qmp?.close();
    await rm(r.dir, { recursive: true, force: true });
    tempDirs.delete(r.dir);
  }
}

const rawSteps: Steps[] = [];

async function rawRunning(c: Captured): Promise<number> {
  const t0 = now();
  const steps: Steps = { post: Date.now() };
  const r = await startRaw(c);
  let qmp: QmpClient | undefined;
  try {
    qmp = await qmpConnect(join(r.dir, 'qmp.sock'), r.child);
    while ((await qmp.queryStatus()).status !== 'running') await sleep(POLL_MS);
    const ms = now() - t0;
    steps.active = Date.now();
    steps.qemuPidfile = mtimeOf(join(r.dir, 'qemu.pid'));
    rawSteps.push(steps);
    return ms;
  } finally {
    await stopRaw(r, qmp);
  }
}

async function rawGuest(c: Captured): Promise<number> {
  const t0 = now();
  const r = await startRaw(c);
  let qmp: QmpClient | undefined;
  try {
    const consoleLog = join(r.dir, 'console.log');
    const deadline = Date.now() + 300_000;
    while (!(existsSync(consoleLog) && (await readFile(consoleLog, 'utf8')).includes(MARKER))) {
      if (r.child.exitCode !== null || r.child.signalCode !== null) throw new Error('QEMU exited before the guest booted');
      if (Date.now() > deadline) throw new Error(`no "${MARKER}" in ${consoleLog}`);
      await sleep(POLL_MS);
    }
    const ms = now() - t0;
    qmp = await qmpConnect(join(r.dir, 'qmp.sock'), r.child);
    return ms;
  } finally {
    await stopRaw(r, qmp);
  }
}

async function uploadImage(file: string): Promise<string> {
  const image = await client.call('POST', '/image/v2/images', 201, {
    name: `bench-boot-guest-${Date.now().toString(36)}`, disk_format: 'qcow2', container_format: 'bare', hypervisor_type: 'qemu',
  });
  await client.uploadImageFile(image.id, file);
  return image.id;
}

async function main(): Promise<void> {
  if (!stateDir) throw new Error('NUBO_STATE_DIR is not set (run through deploy/bench.sh)');
  client = await new OpenStackClient(credentialsFromEnv()).login();
  await client.call('PUT', `/compute/v2.1/os-quota-sets/${client.projectId}`, 200, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  const nano = await flavorId('m1.nano');
  let imageId: string | undefined;
  try {
    // running: API
    const api: number[] = [];
    const runningSteps: Steps[] = [];
    let captured: Captured | undefined;
    for (let i = 0; i < N; i++) {
      const t0 = now();
      const steps: Steps = { post: Date.now() };
      const id = await createServer({ name: `bench-boot-${i}`, flavorRef: nano });
      steps.posted = Date.now();
      await waitActive(id, steps);
      api.push(now() - t0);
      fileSteps(id, steps);
      runningSteps.push(steps);
      if (!captured) captured = await capture(id);
      await deleteServer(id);
      log(`api running ${i + 1}/${N}: ${api[i].toFixed(1)} ms`);
    }
    log(`api running median steps (ms): ${breakdown(runningSteps, ['post', 'posted', 'spawning', 'specWritten', 'qemuPidfile', 'active'])}`);
    // running: the same argv by hand
    const raw: number[] = [];
    for (let i = 0; i < N; i++) {
      raw.push(await rawRunning(captured!));
      log(`raw running ${i + 1}/${N}: ${raw[i].toFixed(1)} ms`);
    }

    log(`raw running median steps (ms): ${breakdown(rawSteps, ['post', 'qemuPidfile', 'active'])}`);
    // guest: build (cached) and upload the Linux test guest
    const { stdout } = await run('bash', [join(__dirname, '../../../deploy/guest-image/build.sh'), join(stateDir, 'guest-image')], {
      timeout: 600_000,
      maxBuffer: 1 << 20,
    });
    const guestFile = stdout.trim().split('\n').pop()!;
    log(`guest image ${guestFile}`);
    imageId = await uploadImage(guestFile);
    // Linux needs more than m1.nano's 64 MB: the e2e guest spec boots it as m1.tiny.
    const tiny = await flavorId('m1.tiny');
    const guestSteps: Steps[] = [];
    const bootGuest = async (name: string): Promise<{ id: string; ms: number; steps: Steps }> => {
      const t0 = now();
      const steps: Steps = { post: Date.now() };
      const id = await createServer({ name, flavorRef: tiny, imageRef: imageId });
      steps.posted = Date.now();
      await waitConsoleMarker(id, steps);
      return { id, ms: now() - t0, steps };
    };
    const warm = await bootGuest('bench-boot-guest-warmup');
    log(`api guest warm-up (image download, not counted): ${warm.ms.toFixed(0)} ms`);
    const guestCaptured = await capture(warm.id);
    await deleteServer(warm.id);
    const apiGuest: number[] = [];
    for (let i = 0; i < N_GUEST; i++) {
      const { id, ms, steps } = await bootGuest(`bench-boot-guest-${i}`);
      apiGuest.push(ms);
      guestSteps.push(steps);
      await deleteServer(id);
      log(`api guest ${i + 1}/${N_GUEST}: ${ms.toFixed(0)} ms`);
    }
    log(`api guest median steps (ms): ${breakdown(guestSteps, ['post', 'posted', 'spawning', 'specWritten', 'qemuPidfile', 'active', 'markerInFile', 'markerInApi'])}`);
    const rawGuestMs: number[] = [];
    for (let i = 0; i < N_GUEST; i++) {
      rawGuestMs.push(await rawGuest(guestCaptured));
      log(`raw guest ${i + 1}/${N_GUEST}: ${rawGuestMs[i].toFixed(0)} ms`);
    }

    const apiP50 = median(api);
    const rawP50 = median(raw);
    const apiGuestP50 = median(apiGuest);
    const rawGuestP50 = median(rawGuestMs);
    process.stdout.write(
      `${JSON.stringify({
        name: 'boot',
        n: N,
        api_running_p50_ms: round(apiP50),
        raw_running_p50_ms: round(rawP50),
        running_ratio: round(apiP50 / rawP50),
        n_guest: N_GUEST,
        api_guest_p50_ms: round(apiGuestP50),
        raw_guest_p50_ms: round(rawGuestP50),
        guest_ratio: round(apiGuestP50 / rawGuestP50),
      })}\n`,
    );
  } finally {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const id of servers) await client.request('DELETE', `/compute/v2.1/servers/${id}`).catch(() => undefined);
    for (const id of servers) await client.waitForGone(id, 120_000).catch(() => undefined);
    if (imageId) await client.request('DELETE', `/image/v2/images/${imageId}`).catch(() => undefined);
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`[bench:boot] failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
