/**
 * The DHCP namespace and its veth, by iproute2 commands (argument arrays). Each call converges:
 * it creates what is missing and corrects what differs, so a sync may run it every time.
 */
import { CommandFailedError, CommandRunner } from './command-runner';
import { DhcpPlan } from './dhcp-values';

const inNs = (netns: string | undefined, args: string[]) => (netns ? ['-n', netns, ...args] : args);
const missing = (error: unknown) => error instanceof CommandFailedError && /does not exist|Cannot find device|No such file/.test(error.stderr);

export class DhcpNamespaces {
  constructor(private readonly run: CommandRunner) {}

  /** Names of all namespaces of the host (`ip netns list` prints "name (id: n)" lines). */
  async list(): Promise<string[]> {
    const out = await this.run.run('ip', ['netns', 'list']);
    return out.split('\n').map((line) => line.split(' ')[0]).filter(Boolean);
  }

  /** Namespace, veth pair (MAC, MTU, bridge, up) and exactly the DHCP port's addresses. */
  async converge(plan: DhcpPlan, existing: string[]): Promise<void> {
    const { namespace, innerDevice, outerDevice } = plan.names;
    if (!existing.includes(namespace)) await this.run.run('ip', ['netns', 'add', namespace]);
    await this.ip(namespace, ['link', 'set', 'dev', 'lo', 'up']);
    if (!(await this.exists(namespace, innerDevice))) {
      // A leftover outer end from a half-made pair would block the name.
      await this.deleteLink(plan.bridgeNetns, outerDevice);
      await this.ip(plan.bridgeNetns, ['link', 'add', 'name', outerDevice, 'type', 'veth', 'peer', 'name', innerDevice, 'netns', namespace]);
    }
    await this.ip(namespace, ['link', 'set', 'dev', innerDevice, 'address', plan.portMac, 'mtu', String(plan.mtu), 'up']);
    await this.ip(plan.bridgeNetns, ['link', 'set', 'dev', outerDevice, 'mtu', String(plan.mtu), 'master', plan.bridge, 'up']);
    await this.convergeAddresses(namespace, innerDevice, plan.addresses);
  }

  /** The IPv4 addresses (ip/prefix) of a device. */
  async addresses(namespace: string, device: string): Promise<string[]> {
    const shown = JSON.parse(await this.ip(namespace, ['-json', '-4', 'addr', 'show', 'dev', device])) as Array<{
      addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
    }>;
    return shown.flatMap((l) => l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  }

  /** Deletes a namespace (its veth pair goes with it); a missing one is fine. */
  async delete(namespace: string): Promise<void> {
    try {
      await this.run.run('ip', ['netns', 'del', namespace]);
    } catch (error) {
      if (!missing(error)) throw error;
    }
  }

  /** Pids of the processes in a namespace (none when it is gone). */
  async pids(namespace: string): Promise<number[]> {
    try {
      return (await this.run.run('ip', ['netns', 'pids', namespace])).split('\n').filter(Boolean).map(Number);
    } catch (error) {
      if (missing(error)) return [];
      throw error;
    }
  }

  private async convergeAddresses(namespace: string, device: string, wanted: string[]): Promise<void> {
    const have = await this.addresses(namespace, device);
    for (const cidr of have.filter((a) => !wanted.includes(a))) await this.ip(namespace, ['addr', 'del', cidr, 'dev', device]);
    for (const cidr of wanted.filter((a) => !have.includes(a))) await this.ip(namespace, ['addr', 'add', cidr, 'dev', device]);
  }

  private async exists(netns: string | undefined, device: string): Promise<boolean> {
    try {
      await this.ip(netns, ['link', 'show', 'dev', device]);
      return true;
    } catch (error) {
      if (missing(error)) return false;
      throw error;
    }
  }

  private async deleteLink(netns: string | undefined, device: string): Promise<void> {
    try {
      await this.ip(netns, ['link', 'del', 'dev', device]);
    } catch (error) {
      if (!missing(error)) throw error;
    }
  }

  private ip(netns: string | undefined, args: string[]): Promise<string> {
    return this.run.run('ip', inNs(netns, args));
  }
}
