/**
 * Why a QEMU ended, told apart from what the agent saw of it: the reason of its QMP SHUTDOWN event,
 * GUEST_PANICKED, the agent's own stop, and the exit status of a process the agent started (Node
 * reaps its children; an adopted QEMU's status is lost to init). The verdict is kept in
 * <instance dir>/last-exit.json, so a restarted agent still knows it until the next start, stop or
 * destroy replaces it.
 */
import { InstanceExit, InstanceExitCause } from '@nubo/contracts';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QemuExit } from './qemu-process';

export interface ExitEvidence {
  /** `reason` of the process's last QMP SHUTDOWN event (guest-shutdown, guest-panic, host-signal, ...). */
  shutdownReason?: string;
  /** GUEST_PANICKED was seen. */
  panicked?: boolean;
  /** Exit status, when the agent is the process's parent. */
  status?: QemuExit;
}

/** SHUTDOWN reasons that say the guest itself ended QEMU (it runs without -no-shutdown). */
const GUEST_REASONS: Record<string, InstanceExitCause> = {
  'guest-shutdown': 'guest-shutdown',
  'guest-panic': 'guest-panic',
};

/** The cause a SHUTDOWN reason alone settles, or undefined when the exit status is still needed. */
export function causeOfShutdown(reason: string | undefined): InstanceExitCause | undefined {
  return reason ? GUEST_REASONS[reason] : undefined;
}

/** Classifies the end of a process no operation of the agent asked for. */
export function classifyExit(evidence: ExitEvidence, at: Date = new Date()): InstanceExit {
  const { shutdownReason, panicked, status } = evidence;
  if (panicked || shutdownReason === 'guest-panic') {
    return exit('guest-panic', panicked ? 'GUEST_PANICKED' : 'SHUTDOWN guest-panic', at);
  }
  if (shutdownReason === 'guest-shutdown') return exit('guest-shutdown', 'SHUTDOWN guest-shutdown', at);
  const parts = [shutdownReason ? `SHUTDOWN ${shutdownReason}` : undefined, describeExit(status)].filter(Boolean);
  if (!shutdownReason && status?.code === 0) parts.push('without a SHUTDOWN event');
  return exit('unexpected', parts.length ? parts.join(', ') : 'no SHUTDOWN event; exit status unknown', at);
}

/** `killed by SIGKILL`, `exit code 1`, or undefined when the status is unknown. */
export function describeExit(status: QemuExit | undefined): string | undefined {
  if (status?.signal) return `killed by ${status.signal}`;
  if (typeof status?.code === 'number') return `exit code ${status.code}`;
  return undefined;
}

export const hostStopExit = (detail: string, at: Date = new Date()): InstanceExit => exit('host-stop', detail, at);

export const foundDeadExit = (at: Date = new Date()): InstanceExit =>
  exit('found-dead', 'not running when the agent started (agent or host restart)', at);

function exit(cause: InstanceExitCause, detail: string, at: Date): InstanceExit {
  return { cause, detail, at: at.toISOString() };
}

const CAUSES = new Set<string>(['guest-shutdown', 'guest-panic', 'host-stop', 'unexpected', 'found-dead']);

export const lastExitPath = (dir: string) => join(dir, 'last-exit.json');

/** The recorded exit of the instance in `dir`, or undefined (none, or unreadable). */
export function readLastExit(dir: string): InstanceExit | undefined {
  try {
    const value = JSON.parse(readFileSync(lastExitPath(dir), 'utf8')) as Partial<InstanceExit>;
    if (typeof value.cause !== 'string' || !CAUSES.has(value.cause)) return undefined;
    if (typeof value.detail !== 'string' || typeof value.at !== 'string') return undefined;
    return { cause: value.cause as InstanceExitCause, detail: value.detail, at: value.at };
  } catch {
    return undefined;
  }
}

/** Written under a temporary name first: a reader sees the old verdict or the new one. */
export function writeLastExit(dir: string, value: InstanceExit): void {
  const path = lastExitPath(dir);
  try {
    writeFileSync(`${path}.tmp`, `${JSON.stringify(value)}\n`);
    renameSync(`${path}.tmp`, path);
  } catch (error) {
    // The directory went with a destroy: nothing left to remember.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

export function clearLastExit(dir: string): void {
  rmSync(lastExitPath(dir), { force: true });
}
