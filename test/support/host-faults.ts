/**
 * Faults on the hosts of the e2e cloud, and the checks that follow them (RELIABILITY.md): freeze or
 * kill an agent, power a host off (its agent and every process in its namespace), and
 * "every server converged": one QEMU per running server across all hosts, none for a stopped one,
 * no orphan QEMU, no task state left set.
 */
import { OpenStackClient } from '@nubo/client';
import { pidsNaming } from '@nubo/testing';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cloud, netnsOf, qmpStatus, withDb } from './cloud';
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
