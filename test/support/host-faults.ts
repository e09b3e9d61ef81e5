/**
 * Faults on the hosts of the e2e cloud, and the checks that follow them (RELIABILITY.md): freeze or
 * kill an agent, power a host off (its agent and every process in its namespace), delete its
 * namespace, cut its agent alone off the control plane, sample QEMUs over time, and
 * "every server converged": one QEMU per running server across all hosts, none for a stopped one,
 * no orphan QEMU, no task state left set.
 */
import { OpenStackClient } from '@nubo/client';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cloud, cloudEnv, netnsOf, qmpStatus, withDb } from './cloud';
import { E2E } from './e2e-env';

export const hostNs = (n: number) => `${E2E.NUBO_CLOUD_NAME}-h${n}`;

export function agentPid(n: number): number {
  return Number(readFileSync(join(E2E.NUBO_STATE_DIR, 'run', `agent-h${n}.pid`), 'utf8').trim());
}

export function signalAgent(n: number, signal: 'SIGSTOP' | 'SIGKILL' | 'SIGCONT'): void {
  process.kill(agentPid(n), signal);
}

/** A host losing power: its agent and every process in its namespace (QEMUs) die at once. */
export function powerOffHost(n: number): void {
  cloud('stop-agent', String(n), '--kill');
  const pids = execFileSync('ip', ['netns', 'pids', hostNs(n)], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** Live QEMUs of a server, on any host, with the namespace (host) each runs in. */
export function qemusOf(serverId: string): Array<{ pid: number; host: string }> {
  return pidsNaming(serverId)
    .filter((pid) => cmdlineOf(pid).startsWith('qemu-system') || cmdlineOf(pid).includes('/qemu-system'))
    .map((pid) => ({ pid, host: netnsOf(pid) }));
}

/** Every live QEMU of this e2e cloud: its instance directories are under the cloud's state dir. */
export function cloudQemus(): Array<{ pid: number; serverId: string }> {
  const hostsDir = join(E2E.NUBO_STATE_DIR, 'hosts');
  const found: Array<{ pid: number; serverId: string }> = [];
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const args = cmdlineOf(Number(name)).split('\0');
    if (!args[0]?.includes('qemu-system')) continue;
    const pidfile = args[args.indexOf('-pidfile') + 1] ?? '';
    const m = new RegExp(`^${hostsDir}/h\\d+/instances/([0-9a-f-]{36})/`).exec(pidfile);
    if (m) found.push({ pid: Number(name), serverId: m[1] });
  }
  return found;
}

/**
 * The invariants after a fault heals: each listed server is idle (no task state) and ACTIVE with
 * exactly one QEMU (on the host the database says, QMP running) or SHUTOFF with none; no QEMU of
 * the cloud belongs to a deleted server or runs on another host than its server's.
 */
export async function expectConverged(api: OpenStackClient, expected: Record<string, 'ACTIVE' | 'SHUTOFF'>): Promise<void> {
  for (const [id, status] of Object.entries(expected)) {
    const server = await api.getServer(id);
    expect({ id, status: server.status, task: server['OS-EXT-STS:task_state'] }).toEqual({ id, status, task: null });
    const qemus = qemusOf(id);
    if (status === 'SHUTOFF') {
      expect({ id, qemus }).toEqual({ id, qemus: [] });
      continue;
    }
    expect({ id, hosts: qemus.map((q) => q.host) }).toEqual({ id, hosts: [server['OS-EXT-SRV-ATTR:host']] });
    expect(await qmpStatus(server['OS-EXT-SRV-ATTR:host'], id)).toBe('running');
  }
  const live = cloudQemus();
  const rows = await withDb(async (db) =>
    (await db.query(`SELECT id::text, host_id FROM compute.servers WHERE deleted_at IS NULL AND id = ANY($1::uuid[])`, [live.map((q) => q.serverId)]))
      .rows as Array<{ id: string; host_id: string }>,
  );
  const orphans = live.filter((q) => rows.find((r) => r.id === q.serverId)?.host_id !== netnsOf(q.pid));
  expect(orphans).toEqual([]);
}

/**
 * A host vanishing (a machine pulled out): its agent killed -9, everything in its namespace killed,
 * the namespace deleted. Resolves once the kernel freed it (its underlay veth gone from the fabric).
 */
export async function deleteHostNamespace(n: number, timeoutMs = 15_000): Promise<void> {
  powerOffHost(n);
  execFileSync('ip', ['netns', 'del', hostNs(n)]);
  const fabric = `${E2E.NUBO_CLOUD_NAME}-fab`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      execFileSync('ip', ['-n', fabric, 'link', 'show', `h${n}`], { stdio: 'ignore' });
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`namespace ${hostNs(n)} deleted but not freed: h${n} still on the fabric after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function namespaceExists(ns: string): boolean {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .some((line) => line.split(/\s+/)[0] === ns);
}

// -- Cutting one agent off the control plane --------------------------------------------------
// The agent (root namespace, NATS on loopback) goes into a cgroup v2 of its own; an nft output
// rule drops that cgroup's packets to the NATS port. A socket's cgroup is fixed when it is
// created, so the agent's open NATS connections are killed (ss -K): its reconnections match.
// Nothing else loses NATS, and its QEMUs (in its namespace) run on.

const CUT_PREFIX = 'nubo-e2e-cut';

export interface ControlPlaneCut {
  n: number;
  pid: number;
  name: string;
  cgroup: string;
}

/** Where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
function cgroup2Root(): string {
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) throw new Error('no cgroup2 mount: cannot cut one agent off');
  return line.split(' ')[1];
}

const cutName = (n: number) => `${CUT_PREFIX}-h${n}`;
/** nft resolves `socket cgroupv2` paths under /sys/fs/cgroup: on a hybrid host a link there points at ours. */
const nftCgroupLink = (name: string) => join('/sys/fs/cgroup', name);

function natsPort(): number {
  return Number(new URL(cloudEnv().NUBO_NATS_URL.split(',')[0]).port);
}

/** The agent's established TCP connections to `port`, by local port (`ss -p`). */
function socketsOf(pid: number, port: number): number[] {
  const out = execFileSync('ss', ['-tnpH', 'dport', '=', `:${port}`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.startsWith('ESTAB') && line.includes(`pid=${pid},`))
    .map((line) => Number(/:(\d+)$/.exec(line.trim().split(/\s+/)[3] ?? '')?.[1]))
    .filter((p) => Number.isInteger(p) && p > 0);
}

export function cutControlPlane(n: number): ControlPlaneCut {
  const name = cutName(n);
  const root = cgroup2Root();
  const cgroup = join(root, name);
  mkdirSync(cgroup, { recursive: true });
  if (root !== '/sys/fs/cgroup' && !existsSync(nftCgroupLink(name))) symlinkSync(cgroup, nftCgroupLink(name));
  const pid = agentPid(n);
  writeFileSync(join(cgroup, 'cgroup.procs'), String(pid));
  const port = natsPort();
  const ruleset = `table inet ${name} {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    socket cgroupv2 level 1 "${name}" tcp dport ${port} drop\n  }\n}\n`;
  execFileSync('nft', ['-f', '-'], { input: ruleset });
  for (let i = 0; i < 5; i++) {
    const open = socketsOf(pid, port);
    if (open.length === 0) return { n, pid, name, cgroup };
    for (const sport of open) execFileSync('ss', ['-K', '-tnH', 'sport', '=', `:${sport}`, 'dport', '=', `:${port}`], { stdio: 'ignore' });
  }
  throw new Error(`agent of host ${n} (pid ${pid}) still connected to port ${port} after ss -K`);
}

/** Undoes a cut (idempotent, also for a cut a crashed run left): rule, cgroup, link. */
export function healControlPlane(n: number): void {
  const name = cutName(n);
  try {
    execFileSync('nft', ['delete', 'table', 'inet', name], { stdio: 'ignore' });
  } catch {
    // No such table.
  }
  let root: string;
  try {
    root = cgroup2Root();
  } catch {
    return;
  }
  const cgroup = join(root, name);
  if (existsSync(cgroup)) {
    for (const pid of readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        writeFileSync(join(root, 'cgroup.procs'), pid);
      } catch {
        // Gone.
      }
    }
    rmdirSync(cgroup);
  }
  rmSync(nftCgroupLink(name), { force: true });
}

// -- Sampling QEMUs --------------------------------------------------------------------------

export interface SampledQemu {
  pid: number;
  serverId: string;
  /** Namespace (host) it runs in; '' for one unnamed (a namespace deleted under it). */
  host: string;
  /** Wall-clock ms the kernel started it (/proc/<pid>/stat), first and last seen alive. */
  startedAt: number;
  firstSeen: number;
  lastSeen: number;
}

/**
 * Every `periodMs`, the QEMUs of the given servers across all namespaces: each process once with
 * when it started and when it was last seen, and every sample where a server had more than one.
 */
export class QemuSampler {
  readonly qemus = new Map<number, SampledQemu>();
  readonly doubles: Array<{ at: number; serverId: string; pids: number[] }> = [];
  samples = 0;
  private timer?: NodeJS.Timeout;
  private readonly bootMs = Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  private readonly ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

  constructor(private readonly serverIds: string[]) {}

  start(periodMs = 100): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), periodMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The processes of one server, oldest first. */
  of(serverId: string): SampledQemu[] {
    return [...this.qemus.values()].filter((q) => q.serverId === serverId).sort((a, b) => a.startedAt - b.startedAt);
  }

  private sample(): void {
    const now = Date.now();
    const namespaces = netnsByInode();
    const live = new Map<string, number[]>();
    for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      const pid = Number(name);
      const cmd = cmdlineOf(pid);
      // QEMU itself, not a wrapper naming it (`ip netns exec ... qemu-system-...` before its exec).
      if (!/^(\S*\/)?qemu-system/.test(cmd)) continue;
      const serverId = this.serverIds.find((id) => cmd.includes(id));
      if (!serverId) continue;
      live.set(serverId, [...(live.get(serverId) ?? []), pid]);
      const known = this.qemus.get(pid);
      if (known) {
        known.lastSeen = now;
        continue;
      }
      try {
        const net = readlinkSync(`/proc/${pid}/ns/net`);
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const starttime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
        const startedAt = Math.round(this.bootMs + (starttime * 1000) / this.ticksPerSecond);
        this.qemus.set(pid, { pid, serverId, host: namespaces.get(net) ?? '', startedAt, firstSeen: now, lastSeen: now });
      } catch {
        // Exited while being read.
      }
    }
    for (const [serverId, pids] of live) if (pids.length > 1) this.doubles.push({ at: now, serverId, pids });
    this.samples++;
  }
}

/** `net:[inode]` -> namespace name, for every named namespace. */
function netnsByInode(): Map<string, string> {
  const map = new Map<string, string>();
  for (const name of readdirSync('/run/netns')) {
    try {
      map.set(`net:[${statSync(join('/run/netns', name)).ino}]`, name);
    } catch {
      // Deleted meanwhile.
    }
  }
  return map;
}
