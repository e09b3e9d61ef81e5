/**
 * Handles on the running e2e cloud for specs: API clients from its openrc, its database and
 * Redis, and its hosts (agent stop/start, QEMU pid and QMP of an instance, namespace of a pid).
 */
import { OpenStackClient, credentialsFromEnv } from '@nubo/client';
import { QmpClient } from '@nubo/qmp';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { E2E, cloudScript, openrcPath } from './e2e-env';

function parseEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z_0-9]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}

export const cloudEnv = () => parseEnvFile(join(E2E.NUBO_STATE_DIR, 'cloud.env'));

export async function adminClient(): Promise<OpenStackClient> {
  return new OpenStackClient(credentialsFromEnv(parseEnvFile(openrcPath))).login();
}

export async function demoClient(): Promise<OpenStackClient> {
  return new OpenStackClient(credentialsFromEnv(parseEnvFile(join(E2E.NUBO_STATE_DIR, 'openrc-demo')))).login();
}

export async function withDb<T>(fn: (db: PgClient) => Promise<T>): Promise<T> {
  const db = new PgClient({ connectionString: cloudEnv().NUBO_DATABASE_URL });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

export const hostNumber = (hostId: string) => Number(/-h(\d+)$/.exec(hostId)![1]);
export const instanceDir = (hostId: string, serverId: string) =>
  join(E2E.NUBO_STATE_DIR, 'hosts', `h${hostNumber(hostId)}`, 'instances', serverId);

export function qemuPid(hostId: string, serverId: string): number | undefined {
  const file = join(instanceDir(hostId, serverId), 'qemu.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
}

/** The network namespace a process lives in, by name (`ip netns identify`). */
export function netnsOf(pid: number): string {
  return execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).trim();
}

/** query-status on the instance's operator QMP socket, independently of the agent. */
export async function qmpStatus(hostId: string, serverId: string): Promise<string> {
  const qmp = await QmpClient.connect(join(instanceDir(hostId, serverId), 'qmp-ops.sock'));
  try {
    return (await qmp.queryStatus()).status;
  } finally {
    qmp.close();
  }
}

export function cloud(...args: string[]): void {
  execFileSync('bash', [cloudScript, ...args], { env: { ...process.env, ...E2E }, stdio: 'inherit' });
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
