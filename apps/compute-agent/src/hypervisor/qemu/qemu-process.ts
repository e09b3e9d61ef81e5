/**
 * Starting, finding and killing QEMU processes. QEMU is started from an argument array (never a
 * shell) in a session of its own, with stdio on files, so that it outlives the agent: stopping or
 * killing the agent never stops a VM (invariant 4).
 *
 * Why not `-daemonize`: QEMU 7.2 installs its seccomp filter before it daemonizes, and the
 * sandbox we want (spawn=deny, elevateprivileges=deny) forbids the fork and setsid that
 * daemonizing needs. So the agent detaches QEMU itself, as libvirt does, and treats "QMP
 * answers" as the sign that QEMU finished initialising.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';

export interface QemuLaunchOptions {
  binary: string;
  argv: string[];
  /** Network namespace to run QEMU in (`ip netns exec`, which execs: the pid stays QEMU's). */
  netns?: string;
  /** QEMU's stdout and stderr go here, appended. */
  stderrPath: string;
}

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchedQemu {
  pid: number;
  /** Resolves when the launched process exits (before readiness, that is a failed start). */
  exited: Promise<QemuExit>;
  /** Settled state of `exited`, for polling. */
  exit?: QemuExit;
}

export class QemuLaunchError extends Error {}

/** The command line that runs QEMU, with or without a network namespace. */
export function launchCommand(options: Pick<QemuLaunchOptions, 'binary' | 'argv' | 'netns'>): { file: string; args: string[] } {
  if (!options.netns) return { file: options.binary, args: options.argv };
  return { file: 'ip', args: ['netns', 'exec', options.netns, options.binary, ...options.argv] };
}

/** Starts QEMU detached. Resolves once the process exists; readiness is the monitor's business. */
export async function launchQemu(options: QemuLaunchOptions): Promise<LaunchedQemu> {
  const { file, args } = launchCommand(options);
  const out = openSync(options.stderrPath, 'a');
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', out, out] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new QemuLaunchError(`cannot run ${file}: ${error.message}`)));
    });
    // Do not keep the agent's event loop alive for QEMU; Node still reaps the child if it exits.
    child.unref();
    const launched: LaunchedQemu = {
      pid: child.pid!,
      exited: new Promise<QemuExit>((resolve) =>
        child.once('exit', (code, signal) => {
          launched.exit = { code, signal };
          resolve(launched.exit);
        }),
      ),
    };
    return launched;
  } finally {
    closeSync(out);
  }
}

/** The last lines of QEMU's stderr log, for error messages. */
export async function stderrTail(path: string, maxBytes = 2048): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8').trim().split('\n').slice(-10).join('\n');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

export function readPidfile(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is a live QEMU of this server. The command line must name the server, so a
 * recycled pid (or a zombie, whose cmdline is empty) never counts.
 */
export function isAlive(pid: number | undefined, serverId: string): boolean {
  if (!pid) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').some((arg) => arg.includes(serverId));
  } catch {
    return false;
  }
}

/**
 * Live QEMUs started with `-pidfile <pidfile>`, found by their command lines: the pidfile may be
 * missing or stale when an agent died while QEMU was starting, and an instance must never get a
 * second QEMU because its first one was not found.
 */
export function findQemuPids(pidfile: string): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('-pidfile');
      if (at >= 0 && args[at + 1] === pidfile) found.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

/** Sends a signal to the server's QEMU, if it still is that process. */
export function signalQemu(pid: number | undefined, serverId: string, signal: NodeJS.Signals): boolean {
  if (!isAlive(pid, serverId)) return false;
  try {
    process.kill(pid!, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until the server's QEMU is gone; resolves false if it still runs after `timeoutMs`. */
export async function waitForExit(pid: number | undefined, serverId: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid, serverId)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/** SIGKILL and wait. Resolves true once the process is gone. */
export async function killQemu(pid: number | undefined, serverId: string, timeoutMs = 5_000): Promise<boolean> {
  signalQemu(pid, serverId, 'SIGKILL');
  return waitForExit(pid, serverId, timeoutMs);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
