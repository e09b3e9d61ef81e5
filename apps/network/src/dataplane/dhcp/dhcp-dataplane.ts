/**
 * The DHCP role of the network node (Neutron's DHCP agent with dnsmasq): per DHCP-enabled network,
 * a namespace whose veth joins the network's bridge, holding the DHCP port's addresses and one
 * dnsmasq serving static leases only. `sync` converges the host to the desired networks and
 * removes everything of ours (found by name prefix) that no desired network names, so a restarted
 * service rebuilds from the control plane and cleans up what it finds.
 */
import { Logger } from '@nestjs/common';
import { ValidationError } from '@nubo/contracts';
import { resolve } from 'node:path';
import { CommandRunner, ExecCommandRunner } from './command-runner';
import { DhcpNames, DhcpNaming } from './dhcp-names';
import { DhcpNamespaces } from './dhcp-namespace';
import { ensureFolder, listFolders, removeFolder, writeIfChanged } from './dhcp-state-files';
import { DesiredDhcpNetwork, DhcpDataplaneOptions, DhcpLeaks, DhcpSyncResult } from './dhcp-types';
import { DhcpPlan, planNetwork } from './dhcp-values';
import { dnsmasqArgv, filesOf, renderHosts, renderOpts } from './dnsmasq-config';
import { DnsmasqProcess, findDnsmasq, reloadDnsmasq, startDnsmasq, stopProcess } from './dnsmasq-process';

type Outcome = 'started' | 'restarted' | 'reloaded' | 'unchanged';

const STATE_DIR = /^\/[A-Za-z0-9_./-]*$/;
const sameArgv = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export class DhcpDataplane {
  private readonly logger = new Logger(DhcpDataplane.name);
  private readonly naming: DhcpNaming;
  private readonly stateDir: string;
  private readonly leaseSeconds: number;
  private readonly dnsmasqPath: string;
  private readonly namespaces: DhcpNamespaces;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    options: DhcpDataplaneOptions,
    private readonly runner: CommandRunner = new ExecCommandRunner(),
  ) {
    this.naming = new DhcpNaming(options);
    this.stateDir = resolve(options.stateDir);
    // Paths go into dnsmasq's argv: keep them plain.
    if (!STATE_DIR.test(this.stateDir)) throw new ValidationError('stateDir must be an absolute path of [A-Za-z0-9_./-]', 'stateDir');
    this.leaseSeconds = options.leaseSeconds ?? 86_400;
    if (!Number.isInteger(this.leaseSeconds) || this.leaseSeconds < 120) throw new ValidationError('leaseSeconds must be an integer of at least 120', 'leaseSeconds');
    this.dnsmasqPath = options.dnsmasqPath ?? 'dnsmasq';
    this.namespaces = new DhcpNamespaces(runner);
  }

  /** The names used for a network (namespace, veth ends). */
  namesOf(networkId: string): DhcpNames {
    return this.naming.of(networkId);
  }

  /**
   * Converges to `desired` (one entry per DHCP-enabled network; one with no DHCP-enabled subnet
   * counts as not desired). A network whose description is invalid, or whose convergence fails,
   * is reported in `failed` and left as it was; the others go on. Calls run one at a time.
   */
  sync(desired: DesiredDhcpNetwork[]): Promise<DhcpSyncResult> {
    const run = this.queue.then(() => this.syncNow(desired));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** What exists of ours (namespaces, dnsmasq processes, state folders) that `desired` does not name. */
  async leaks(desired: DesiredDhcpNetwork[]): Promise<DhcpLeaks> {
    const keep = this.kept(desired).keep;
    const stray = (name: string) => this.naming.owns(name) && !keep.has(name);
    return {
      namespaces: (await this.namespaces.list()).filter(stray).sort(),
      processes: (await findDnsmasq(this.stateDir)).filter((p) => stray(p.name)).map(({ pid, name }) => ({ pid, name })),
      stateDirs: (await listFolders(this.stateDir)).filter(stray).sort(),
    };
  }

  private kept(desired: DesiredDhcpNetwork[]): { keep: Set<string>; plans: DhcpPlan[]; failed: DhcpSyncResult['failed'] } {
    const keep = new Set<string>();
    const plans: DhcpPlan[] = [];
    const failed: DhcpSyncResult['failed'] = [];
    for (const network of desired) {
      let names: DhcpNames;
      try {
        names = this.naming.of(network.networkId);
      } catch (error) {
        failed.push({ networkId: String(network?.networkId), error: messageOf(error) });
        continue;
      }
      if (keep.has(names.namespace)) {
        failed.push({ networkId: network.networkId, error: 'network listed twice' });
        continue;
      }
      try {
        const plan = planNetwork(network, this.naming);
        if (!plan.subnets.length) continue;
        plans.push(plan);
      } catch (error) {
        failed.push({ networkId: network.networkId, error: messageOf(error) });
      }
      // Kept even when invalid: a bad description must not tear down a working DHCP server.
      keep.add(names.namespace);
    }
    return { keep, plans, failed };
  }

  private async syncNow(desired: DesiredDhcpNetwork[]): Promise<DhcpSyncResult> {
    const { keep, plans, failed } = this.kept(desired);
    const result: DhcpSyncResult = { started: [], restarted: [], reloaded: [], unchanged: [], removed: [], failed };
    const existing = await this.namespaces.list();
    const processes = await findDnsmasq(this.stateDir);
    for (const plan of plans) {
      try {
        const outcome = await this.converge(plan, existing, processes.filter((p) => p.name === plan.names.namespace));
        result[outcome].push(plan.networkId);
      } catch (error) {
        this.logger.warn(`DHCP for network ${plan.networkId} not converged: ${messageOf(error)}`);
        result.failed.push({ networkId: plan.networkId, error: messageOf(error) });
      }
    }
    const ours = new Set([...existing, ...(await listFolders(this.stateDir)), ...processes.map((p) => p.name)].filter((n) => this.naming.owns(n)));
    for (const name of [...ours].filter((n) => !keep.has(n)).sort()) {
      await this.teardown(name, processes);
      result.removed.push(name);
    }
    return result;
  }

  private async converge(plan: DhcpPlan, existing: string[], running: DnsmasqProcess[]): Promise<Outcome> {
    const { namespace } = plan.names;
    const files = filesOf(this.stateDir, namespace);
    await this.namespaces.converge(plan, existing);
    await ensureFolder(this.stateDir, files.dir);
    const hostsChanged = await writeIfChanged(files.hosts, renderHosts(plan));
    const optsChanged = await writeIfChanged(files.opts, renderOpts(plan));
    const argv = dnsmasqArgv(plan, files, this.leaseSeconds);
    if (running.length === 1 && sameArgv(running[0].argv, argv)) {
      if (!hostsChanged && !optsChanged) return 'unchanged';
      reloadDnsmasq(running[0].pid);
      this.logger.log(`DHCP for network ${plan.networkId} reloaded (${plan.hosts.length} leases)`);
      return 'reloaded';
    }
    for (const p of running) await stopProcess(p.pid);
    const pid = await startDnsmasq(this.runner, { dnsmasqPath: this.dnsmasqPath, namespace, argv, stateDir: this.stateDir });
    this.logger.log(`DHCP for network ${plan.networkId} ${running.length ? 'restarted' : 'started'} in ${namespace} (pid ${pid})`);
    return running.length ? 'restarted' : 'started';
  }

  /** Processes first (a namespace with a process in it outlives `ip netns del`), then namespace, then files. */
  private async teardown(name: string, processes: DnsmasqProcess[]): Promise<void> {
    for (const p of processes.filter((q) => q.name === name)) await stopProcess(p.pid);
    for (const pid of await this.namespaces.pids(name)) await stopProcess(pid);
    await this.namespaces.delete(name);
    await removeFolder(this.stateDir, name);
    this.logger.log(`DHCP namespace ${name} removed`);
  }
}
