/**
 * Running the disk-copy tools (qemu-nbd, qemu-img) the way QEMU runs: argument arrays, inside the
 * host's network namespace (`ip netns exec`, which execs), dropped to QEMU's user (setpriv), with
 * stdout and stderr appended to a log file (never a pipe: a daemonized qemu-nbd keeps its stderr
 * open, and a pipe would never close). The pid stays the tool's through both execs.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { HypervisorError } from '../hypervisor-driver';
import { isAlive, sleep, stderrTail, waitForExit } from './qemu-process';
import { QemuUser, dropPrivilegesCommand, findExecutable } from './qemu-user';

/** The command that runs `binary args` in `netns` as `user` (pure, for tests). */
export function toolCommand(binary: string, args: string[], o: { netns?: string; user?: QemuUser; resolve?: (b: string) => string | undefined }): { file: string; args: string[] } {
  let command = [binary, ...args];
  if (o.user) {
    // setpriv would report a missing binary only after the fork: say it the way spawn does.
    const path = (o.resolve ?? findExecutable)(binary);
    if (!path) throw new Error(`cannot run ${binary}: spawn ${binary} ENOENT`);
    command = [...dropPrivilegesCommand(o.user), path, ...args];
  }
  if (o.netns) command = ['ip', 'netns', 'exec', o.netns, ...command];
  return { file: command[0], args: command.slice(1) };
}

export interface RunningTool {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the tool with its output appended to `logPath`. */
export async function startTool(command: { file: string; args: string[] }, logPath: string): Promise<RunningTool> {
  const out = openSync(logPath, 'a');
  try {
    const child = spawn(command.file, command.args, { stdio: ['ignore', out, out] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new Error(`cannot run ${command.file}: ${error.message}`)));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { pid: child.pid!, exited };
  } finally {
    closeSync(out);
  }
}

/** Waits for the tool's end; kills it at `deadline`. Throws HypervisorError(op) with its log's tail unless it exits 0. */
export async function finishTool(op: string, serverId: string, tool: RunningTool, logPath: string, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()))));
  const result = await Promise.race([tool.exited, late]);
  clearTimeout(timer);
  if (result === 'late') {
    try {
      process.kill(tool.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
    await tool.exited;
    throw new HypervisorError(op, serverId, 'did not finish before its deadline (killed)');
  }
  if (result.code === 0) return;
  const tail = (await stderrTail(logPath, 1024)).split('\n').filter(Boolean).slice(-3).join('; ');
  const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`;
  throw new HypervisorError(op, serverId, `${how}${tail ? `: ${tail}` : ''}`);
}

/** The pid a pidfile names, when that process still runs for this server. */
export function livePid(pidfile: string, serverId: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 && isAlive(pid, serverId) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; true once the process is gone (or was not running). */
export async function stopTool(pid: number | undefined, serverId: string, graceMs = 3_000): Promise<boolean> {
  if (!pid || !isAlive(pid, serverId)) return true;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return true;
  }
  if (await waitForExit(pid, serverId, graceMs)) return true;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return true;
  }
  await sleep(10);
  return waitForExit(pid, serverId, 5_000);
}
