/**
 * The fence itself: SIGKILL to every QEMU of this host, found in /proc by its `-pidfile` under
 * the host's instance directory (the same test the driver's adoption uses), without asking the
 * driver, whose monitors may be the thing that hangs. Synchronous: a few ms of /proc reads, done
 * before the agent does anything else. Only QEMUs of this state dir: other agents on the machine
 * (the all-in-one cloud) keep theirs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessTable {
  pids(): number[];
  /** argv of a process ([] when it is gone). */
  argv(pid: number): string[];
  kill(pid: number, signal: NodeJS.Signals): void;
}

export const procTable: ProcessTable = {
  pids: () => {
    try {
      return readdirSync('/proc')
        .filter((name) => /^\d+$/.test(name))
        .map(Number);
    } catch {
      return [];
    }
  },
  argv: (pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return [];
    }
  },
  kill: (pid, signal) => process.kill(pid, signal),
};

/** Pids of the QEMUs whose pidfile is in `<stateDir>/instances/`. */
export function hostQemuPids(stateDir: string, table: ProcessTable = procTable): number[] {
  const prefix = join(stateDir, 'instances') + '/';
  return table.pids().filter((pid) => {
    if (pid === process.pid) return false;
    const argv = table.argv(pid);
    const at = argv.indexOf('-pidfile');
    return at >= 0 && (argv[at + 1] ?? '').startsWith(prefix);
  });
}

/** SIGKILL to each; returns the pids signalled (a process gone meanwhile is not counted). */
export function killHostQemus(stateDir: string, table: ProcessTable = procTable): number[] {
  const killed: number[] = [];
  for (const pid of hostQemuPids(stateDir, table)) {
    try {
      table.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // Gone already.
    }
  }
  return killed;
}
