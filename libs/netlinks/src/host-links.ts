/**
 * The data plane's executor: reads the host (`ip -json -d link show`, `bridge -json fdb show`),
 * plans (data-plane-planner.ts) and runs the plan one command at a time with execFile, optionally
 * in a network namespace (`ip -n` / `bridge -n`). The first failing operation stops the run with
 * a LinkOpError naming it; the operations before it stay applied, and the next converge plans
 * from what the host then has. Converges on one HostLinks run one at a time.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { LinkObserveError, LinkOpError, commandFailure } from './data-plane-errors';
import { planDataPlane } from './data-plane-planner';
import { DataPlanePlan, DesiredDataPlane, KernelFeatures, LinkOp, ObservedDataPlane } from './data-plane-types';
import { LinkCommand, opCommand } from './link-commands';
import { LinkLeak, findLinkLeaks } from './link-leaks';
import { parseFdb, parseLinks } from './observed-state';

const execFileAsync = promisify(execFile);

/** Runs one command and resolves with its stdout; rejects with an error carrying `stderr`. */
export type CommandRunner = (command: LinkCommand) => Promise<string>;

export function execFileRunner(timeoutMs = 10_000): CommandRunner {
  return async ({ file, args }) => (await execFileAsync(file, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' })).stdout;
}

export interface HostLinksOptions {
  /** The network namespace holding the host's data plane; absent: the agent's own. */
  netns?: string;
  run?: CommandRunner;
  /** Overrides the probe (tests, or an operator who knows better). */
  kernel?: KernelFeatures;
  /** Told each operation before it runs (logging). */
  onOp?: (op: LinkOp) => void;
  /** Where a loaded 8021q module shows; default /proc/net/vlan (tests point it elsewhere). */
  vlanProcPath?: string;
}

/** Name of the throwaway device the VLAN probe tries to make (outside our naming scheme). */
const VLAN_PROBE = 'nubo-vlanprobe';

export class HostLinks {
  private readonly run: CommandRunner;
  private kernel?: Promise<KernelFeatures>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: HostLinksOptions = {}) {
    if (options.netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(options.netns)) throw new Error(`bad netns name ${options.netns}`);
    this.run = options.run ?? execFileRunner();
    if (options.kernel) this.kernel = Promise.resolve(options.kernel);
  }

  private command(file: 'ip' | 'bridge', args: string[]): LinkCommand {
    return { file, args: this.options.netns ? ['-n', this.options.netns, ...args] : args };
  }

  private async read(file: 'ip' | 'bridge', args: string[]): Promise<string> {
    try {
      return await this.run(this.command(file, args));
    } catch (error) {
      throw new LinkObserveError(`${file} ${args.join(' ')}`, commandFailure(error), this.options.netns);
    }
  }

  /**
   * 802.1q support: /proc/net/vlan exists once the 8021q module is loaded; otherwise ask the
   * kernel to make a VLAN device with no parent, which loads the module where there is one and
   * fails with "Unknown device type" (EOPNOTSUPP) where there is none. Asked once per HostLinks.
   */
  kernelFeatures(): Promise<KernelFeatures> {
    this.kernel ??= (async () => {
      if (existsSync(this.options.vlanProcPath ?? '/proc/net/vlan')) return { vlan: true };
      try {
        await this.run(this.command('ip', ['link', 'add', 'name', VLAN_PROBE, 'type', 'vlan', 'id', '1']));
        await this.run(this.command('ip', ['link', 'del', 'dev', VLAN_PROBE])).catch(() => undefined);
        return { vlan: true };
      } catch (error) {
        return { vlan: !/Unknown device type|Operation not supported/i.test(commandFailure(error)) };
      }
    })();
    return this.kernel;
  }

  async observe(): Promise<ObservedDataPlane> {
    const [links, fdb, kernel] = await Promise.all([
      this.read('ip', ['-json', '-details', 'link', 'show']),
      this.read('bridge', ['-json', 'fdb', 'show']),
      this.kernelFeatures(),
    ]);
    try {
      return { links: parseLinks(links), fdb: parseFdb(fdb), kernel };
    } catch (error) {
      throw new LinkObserveError('parsing ip/bridge JSON', commandFailure(error), this.options.netns);
    }
  }

  async apply(ops: LinkOp[]): Promise<void> {
    for (const op of ops) {
      this.options.onOp?.(op);
      try {
        await this.run(opCommand(op, this.options.netns));
      } catch (error) {
        throw new LinkOpError(op, commandFailure(error), this.options.netns);
      }
    }
  }

  /** Observes, plans and applies; resolves with the plan it carried out (ops and refused networks). */
  converge(desired: DesiredDataPlane): Promise<DataPlanePlan> {
    const result = this.queue.then(async () => {
      const plan = planDataPlane(desired, await this.observe());
      await this.apply(plan.ops);
      return plan;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Our devices and FDB entries on this host (for tests: empty once everything was removed). */
  async leaks(): Promise<LinkLeak[]> {
    return findLinkLeaks(await this.observe());
  }
}
