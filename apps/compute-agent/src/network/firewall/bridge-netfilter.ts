/**
 * The firewall's stateful half needs br_netfilter to hand bridged IPv4/IPv6 packets to the inet
 * family (the `bridge-nf-call-ip{,6}tables` sysctls, per network namespace, 1 by default once the
 * module is loaded). Without it the bridge table's check_seen chain drops every IP packet of a
 * filtered port: safe, but nothing works, so the agent turns it on at start.
 */
import { InternalError } from '@nubo/contracts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { validateNetns } from './nft-runner';

const run = promisify(execFile);

export const BRIDGE_NETFILTER_SYSCTLS = ['net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1'];

/** The command line (pure, for tests). */
export function bridgeNetfilterCommand(netns?: string): { file: string; args: string[] } {
  const sysctl = ['sysctl', '-q', '-w', ...BRIDGE_NETFILTER_SYSCTLS];
  return netns ? { file: 'ip', args: ['netns', 'exec', validateNetns(netns), ...sysctl] } : { file: sysctl[0], args: sysctl.slice(1) };
}

export async function enableBridgeNetfilter(options: { netns?: string } = {}): Promise<void> {
  const command = bridgeNetfilterCommand(options.netns);
  try {
    await run(command.file, command.args, { timeout: 10_000 });
  } catch (error) {
    const reason = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new InternalError(`cannot enable br_netfilter (is the module loaded? modprobe br_netfilter): ${reason}`, { operation: 'enable-bridge-netfilter' });
  }
}
