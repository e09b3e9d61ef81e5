/**
 * bench:migration's baseline: the same guest (the argv an API-booted QEMU ran, paths moved to temp
 * dirs) migrated back and forth between two host namespaces over the underlay with QMP alone,
 * doing what the agents do and nothing else: destination QEMU started with `-incoming defer`
 * (a fresh overlay on the same base when it has a disk), the same capabilities and parameters
 * (migration-params.ts), NBD export + drive-mirror + drain at `pre-switchover` for disks, then
 * `migrate` and query-migrate until completed and the destination runs.
 */
import { MigrationParameters } from '@nubo/contracts';
import { QmpClient, QmpEvent } from '@nubo/qmp';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { destinationCapabilities, destinationParameters, sourceCapabilities, sourceParameters } from '../../apps/compute-agent/src/hypervisor/qemu/migration-params';
import { now, sleep } from './bench-stats';

const run = promisify(execFile);
const POLL_MS = 5;

/** What one API-booted QEMU ran. */
export interface Captured {
  argv: string[];
  instanceDir: string;
  serverId: string;
  /** Block nodes of the writable disks (migrated over NBD), with their overlay file names. */
  disks: Array<{ node: string; file: string; base?: { path: string; format: string }; bytes: number }>;
}

export interface RawHost {
  netns: string;
  /** Underlay address of the host namespace. */
  address: string;
}

export interface RawVm {
  dir: string;
  child: ChildProcess;
  exited: Promise<void>;
  qmp: QmpClient;
  host: RawHost;
}

export interface RawMigrationRun {
  totalMs: number;
  downtimeMs: number;
  qemuTotalMs: number;
}

const live = new Set<RawVm>();
let nextPort = 50_000 + Math.floor(Math.random() * 500);

/** Starts the captured guest in a new temp dir on `host` (incoming: waits for a stream). */
export async function startVm(c: Captured, host: RawHost, uuid: string, options: { incoming: boolean }): Promise<RawVm> {
  const dir = await mkdtemp('/tmp/nbm-');
  const argv = c.argv.map((a) => a.split(c.instanceDir).join(dir).split(c.serverId).join(uuid));
  for (const d of c.disks) {
    const file = join(dir, d.file);
    if (d.base) await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', d.base.format, '-b', d.base.path, file, String(d.bytes)]);
    else await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(d.bytes)]);
  }
  const out = openSync(join(dir, 'qemu-stderr.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', host.netns, 'qemu-system-x86_64', ...argv, ...(options.incoming ? ['-incoming', 'defer'] : [])], {
      detached: true,
      stdio: ['ignore', out, out],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`raw QEMU exited at start: ${(await readFile(join(dir, 'qemu-stderr.log'), 'utf8')).slice(0, 500)}`);
      }
      const qmp = await QmpClient.connect(join(dir, 'qmp.sock'), { timeoutMs: 10_000 });
      const vm = { dir, child, exited, qmp, host };
      live.add(vm);
      return vm;
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
        child.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
      await sleep(POLL_MS);
    }
  }
}

export async function stopVm(vm: RawVm): Promise<void> {
  try {
    if (vm.qmp.isConnected) await vm.qmp.execute('quit').catch(() => undefined);
    else vm.child.kill('SIGTERM');
    if (!(await Promise.race([vm.exited.then(() => true), sleep(5_000).then(() => false)]))) {
      vm.child.kill('SIGKILL');
      await vm.exited;
    }
  } finally {
    vm.qmp.close();
    live.delete(vm);
    await rm(vm.dir, { recursive: true, force: true });
  }
}

/** For the bench's finally: every raw QEMU still alive is killed and its dir removed. */
export async function stopAllVms(): Promise<void> {
  for (const vm of [...live]) {
    try {
      vm.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    vm.qmp.close();
    live.delete(vm);
    await rm(vm.dir, { recursive: true, force: true });
  }
}

type MigrateInfo = { status?: string; 'total-time'?: number; downtime?: number; 'error-desc'?: string };

/** Migrates `source` to a fresh QEMU on `dest`; answers the new VM (the source is stopped). */
export async function migrateRaw(c: Captured, source: RawVm, dest: RawHost, uuid: string, p: MigrationParameters): Promise<{ vm: RawVm; result: RawMigrationRun }> {
  const t0 = now();
  const target = await startVm(c, dest, uuid, { incoming: true });
  try {
    const d = target.qmp;
    const s = source.qmp;
    await d.execute('migrate-set-capabilities', { capabilities: destinationCapabilities(p) });
    const dp = destinationParameters(p);
    if (Object.keys(dp).length) await d.execute('migrate-set-parameters', dp);
    const block = c.disks.length > 0;
    const nbdPort = nextPort++;
    const port = nextPort++;
    if (block) {
      await d.execute('nbd-server-start', { addr: { type: 'inet', data: { host: dest.address, port: String(nbdPort) } } });
      for (const disk of c.disks) await d.execute('block-export-add', { type: 'nbd', id: disk.node, 'node-name': disk.node, name: disk.node, writable: true });
    }
    await d.execute('migrate-incoming', { uri: `tcp:${dest.address}:${port}` });
    const jobs: string[] = [];
    for (const [i, disk] of c.disks.entries()) {
      await s.execute('blockdev-add', { driver: 'nbd', 'node-name': `raw-target-${i}`, server: { type: 'inet', host: dest.address, port: String(nbdPort) }, export: disk.node });
      await s.execute('blockdev-mirror', { 'job-id': `raw-mirror-${i}`, device: disk.node, target: `raw-target-${i}`, sync: 'full' });
      jobs.push(`raw-mirror-${i}`);
    }
    while (jobs.length && !(await s.execute<Array<{ device: string; ready?: boolean }>>('query-block-jobs')).every((j) => !jobs.includes(j.device) || j.ready)) await sleep(POLL_MS);
    await s.execute('migrate-set-capabilities', { capabilities: sourceCapabilities(p, { block }) });
    await s.execute('migrate-set-parameters', sourceParameters(p));
    let drained: Promise<void> | undefined;
    const onEvent = (e: QmpEvent) => {
      if (e.event !== 'MIGRATION' || e.data?.status !== 'pre-switchover' || drained) return;
      drained = (async () => {
        for (const job of jobs) await s.execute('block-job-cancel', { device: job });
        while ((await s.execute<Array<{ device: string }>>('query-block-jobs')).some((j) => jobs.includes(j.device))) await sleep(1);
        await s.execute('migrate-continue', { state: 'pre-switchover' });
      })();
    };
    s.on('event', onEvent);
    try {
      await s.execute('migrate', { uri: `tcp:${dest.address}:${port}` });
      // Done when the destination runs. (A source that was itself a destination reports its incoming
      // migration's `completed` until the outgoing one has connected: query-migrate alone misleads.)
      for (;;) {
        if ((await d.queryStatus()).status === 'running') break;
        const info = await s.execute<MigrateInfo>('query-migrate');
        if (info.status === 'failed' || info.status === 'cancelled') throw new Error(`raw migration ${info.status}: ${info['error-desc'] ?? ''}`);
        await sleep(POLL_MS);
      }
      const totalMs = now() - t0;
      await drained;
      const info = await s.execute<MigrateInfo>('query-migrate');
      if (block) await d.execute('nbd-server-stop');
      await stopVm(source);
      return { vm: target, result: { totalMs, downtimeMs: info.downtime ?? NaN, qemuTotalMs: info['total-time'] ?? NaN } };
    } finally {
      s.off('event', onEvent);
    }
  } catch (error) {
    const why = `${(error as Error).message}; source ${await vmState(source)}; destination ${await vmState(target)}`;
    await stopVm(target).catch(() => undefined);
    throw new Error(why);
  }
}

/** For an error message: whether the QEMU still runs, and the end of its stderr. */
async function vmState(vm: RawVm): Promise<string> {
  const stderr = await readFile(join(vm.dir, 'qemu-stderr.log'), 'utf8').catch(() => '');
  const state = vm.child.exitCode !== null || vm.child.signalCode !== null ? `exited (${vm.child.exitCode ?? vm.child.signalCode})` : 'running';
  return `${state}${stderr.trim() ? `: ${stderr.trim().slice(-400)}` : ''}`;
}

/** QEMU's dirty-rate measurement (MiB/s) over `seconds`, as the agent's dirtyRate op does it. */
export async function rawDirtyRate(vm: RawVm, seconds: number): Promise<number> {
  await vm.qmp.execute('calc-dirty-rate', { 'calc-time': seconds });
  for (;;) {
    await sleep(200);
    const rate = await vm.qmp.execute<{ status: string; 'dirty-rate'?: number }>('query-dirty-rate');
    if (rate.status === 'measured') return rate['dirty-rate'] ?? 0;
  }
}

export const newUuid = () => randomUUID();
