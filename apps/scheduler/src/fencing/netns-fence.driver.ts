/**
 * The all-in-one cloud's fence driver: a "host" is a network namespace named after it (the
 * agent's NUBO_AGENT_NETNS, = its host id in deploy/cloud.sh). Powering it off kills (SIGKILL)
 * every process in the namespace (its QEMUs) and the host's agent (it runs in the root namespace
 * and works in its host's through `ip -n`: found by NUBO_AGENT_NETNS=<ns> in its environment).
 * Confirmed when neither is left. The namespace and its links stay, as a powered-off machine's
 * cables do: the host's agent started again (cloud.sh start-agent) finds its underlay as it was.
 * (Deleting the links, as a first version did, left the host unreachable after its return.)
 * A namespace deleted (`ip netns del`) is no longer listed, but its agent lives on outside it, and
 * so may QEMUs the deletion orphaned: both carry the agent's environment, so they are found and
 * killed the same way; the fence is confirmed only once none is left.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { FenceDriver, FenceResult } from './fence-driver';

const run = promisify(execFile);

/** Runs a command and returns its stdout; injectable for unit tests. */
export type Runner = (file: string, args: string[]) => Promise<string>;

const defaultRunner: Runner = async (file, args) => (await run(file, args, { timeout: 10_000 })).stdout;

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface NetnsFenceOptions {
  /** Host id -> namespace name; default: the same name. */
  namespaceOf?: (hostId: string) => string;
  runner?: Runner;
  /** How long the kill has to empty the namespace. */
  confirmTimeoutMs?: number;
  /** The host's agent processes (default: /proc, by NUBO_AGENT_NETNS in their environment). */
  agentPids?: (ns: string) => number[];
}

/** Processes whose environment says NUBO_AGENT_NETNS=<ns>: the agent of that host. */
export function agentPidsOf(ns: string, proc = '/proc'): number[] {
  const wanted = Buffer.from(`NUBO_AGENT_NETNS=${ns}\0`);
  const found: number[] = [];
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = readFileSync(`${proc}/${name}/environ`);
      // The last variable has no trailing NUL: compare it alone too.
      if (env.includes(wanted) || env.subarray(env.length - wanted.length + 1).equals(wanted.subarray(0, -1))) found.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

export class NetnsFenceDriver implements FenceDriver {
  readonly name = 'netns';
  private readonly run: Runner;

  constructor(private readonly options: NetnsFenceOptions = {}) {
    this.run = options.runner ?? defaultRunner;
  }

  async fence(hostId: string): Promise<FenceResult> {
    const ns = (this.options.namespaceOf ?? ((id: string) => id))(hostId);
    if (!NETNS_NAME.test(ns)) return { confirmed: false, detail: `not a namespace name: ${JSON.stringify(ns)}` };
    // Unlisted, the namespace cannot be searched: its agent and its children are found by environment.
    const present = await this.exists(ns);
    let killed = 0;
    const deadline = Date.now() + (this.options.confirmTimeoutMs ?? 5_000);
    for (;;) {
      const pids = [...(present ? await this.pids(ns) : []), ...(this.options.agentPids ?? agentPidsOf)(ns)];
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          // Gone between the listing and the kill.
        }
      }
      if (Date.now() > deadline) return { confirmed: false, detail: `namespace ${ns}: ${pids.length} process(es) survived SIGKILL` };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!present) return { confirmed: true, detail: `namespace ${ns} does not exist: ${killed} process(es) of its agent killed` };
    return { confirmed: true, detail: `namespace ${ns} powered off: ${killed} process(es) killed` };
  }

  private async exists(ns: string): Promise<boolean> {
    const out = await this.run('ip', ['netns', 'list']);
    return out.split('\n').some((line) => line.split(/\s+/)[0] === ns);
  }

  private async pids(ns: string): Promise<number[]> {
    let out: string;
    try {
      out = await this.run('ip', ['netns', 'pids', ns]);
    } catch (error) {
      // Deleted while being fenced: nothing runs in it any more.
      if (!(await this.exists(ns))) return [];
      throw error;
    }
    return out
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => Number.isInteger(pid) && pid > 1);
  }
}
