/**
 * Our dnsmasq processes. They daemonize (the service may restart and leave them running, as
 * Neutron's do) and are found again through /proc: a dnsmasq whose --pid-file lies in our state
 * dir is ours, and the folder names its namespace. Comparing its argv with the wanted one tells
 * whether a SIGHUP is enough or a restart is needed.
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CommandRunner } from './command-runner';

export interface DnsmasqProcess {
  pid: number;
  /** The state folder (= namespace) its --pid-file lies in. */
  name: string;
  /** Its arguments after the binary. */
  argv: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readProc(pid: number, file: string): Promise<string | undefined> {
  try {
    return await readFile(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie waiting to be reaped. */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await readProc(pid, 'stat');
  return stat !== undefined && !/^\d+ \(.*\) [ZX]/s.test(stat);
}

/** Every running dnsmasq whose pid file is `<stateDir>/<name>/...`. */
export async function findDnsmasq(stateDir: string): Promise<DnsmasqProcess[]> {
  const found: DnsmasqProcess[] = [];
  const prefix = `--pid-file=${join(stateDir, '/')}`;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const args = (await readProc(pid, 'cmdline'))?.split('\0').filter((a, i, all) => a || i < all.length - 1);
    if (!args?.length || basename(args[0]) !== 'dnsmasq') continue;
    const pidArg = args.find((a) => a.startsWith(prefix));
    if (!pidArg || !(await isRunning(pid))) continue;
    const name = pidArg.slice(prefix.length).split('/')[0];
    if (name) found.push({ pid, name, argv: args.slice(1) });
  }
  return found;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 3000): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  for (let waited = 0; await isRunning(pid); waited += 50) {
    if (waited >= graceMs) signal('SIGKILL');
    if (waited >= graceMs + 5000) throw new Error(`process ${pid} survived SIGKILL`);
    await sleep(50);
  }
}

/** dnsmasq rereads --dhcp-hostsfile and --dhcp-optsfile on SIGHUP. */
export function reloadDnsmasq(pid: number): void {
  process.kill(pid, 'SIGHUP');
}

/**
 * Starts dnsmasq in `namespace`. It forks and its first process exits once the daemon runs (or
 * with dnsmasq's error), so the run returns after startup; the daemon is then found by pid file.
 */
export async function startDnsmasq(
  run: CommandRunner,
  o: { dnsmasqPath: string; namespace: string; argv: string[]; stateDir: string },
): Promise<number> {
  await run.run('ip', ['netns', 'exec', o.namespace, o.dnsmasqPath, ...o.argv]);
  for (let i = 0; i < 40; i++) {
    const mine = (await findDnsmasq(o.stateDir)).find((p) => p.name === o.namespace);
    if (mine) return mine.pid;
    await sleep(50);
  }
  throw new Error(`dnsmasq for ${o.namespace} exited after starting`);
}
