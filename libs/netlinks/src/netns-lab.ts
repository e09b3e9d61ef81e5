/**
 * Test support for the data plane's integration spec (not used by the agent): namespaces that
 * play hosts and guests, and "guests" made of a QEMU with no machine (`-M none`) whose hub relays
 * a port's tap to a second tap moved into a guest namespace, so that guest traffic takes the real
 * path: tap -> bridge -> VXLAN or physical interface. Everything by argument arrays.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const sh = (file: string, args: string[]): string => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export const hasCommand = (name: string): boolean => {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** A namespace with only loopback up and IPv6 off (no router solicitations or MLD to count). */
export function quietNamespace(name: string): void {
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export function deleteNamespaces(prefix: string): void {
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0];
    if (name.startsWith(prefix)) sh('ip', ['netns', 'del', name]);
  }
}

/**
 * 802.1q VLAN devices, probed synchronously (for a describe title) in a throwaway namespace: a
 * kernel without them answers "Unknown device type" to any `type vlan`.
 */
export function kernelHasVlan(scratchNs: string): boolean {
  if (existsSync('/proc/net/vlan')) return true;
  sh('ip', ['netns', 'add', scratchNs]);
  try {
    sh('ip', ['-n', scratchNs, 'link', 'add', 'name', 'probe', 'type', 'vlan', 'id', '1']);
    return true;
  } catch (error) {
    return !/Unknown device type|Operation not supported/.test(String((error as { stderr?: unknown }).stderr));
  } finally {
    sh('ip', ['netns', 'del', scratchNs]);
  }
}

const linkJson = (ns: string, dev: string, stats = false) =>
  JSON.parse(sh('ip', ['-n', ns, '-json', ...(stats ? ['-s'] : []), 'link', 'show', 'dev', dev]))[0] as {
    flags: string[]; mtu: number; stats64?: { rx: { packets: number } };
  };

export const rxPackets = (ns: string, dev: string): number => linkJson(ns, dev, true).stats64!.rx.packets;

async function waitForCarrier(ns: string, dev: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`relay QEMU exited: ${stderr()}`);
    if (linkJson(ns, dev).flags.includes('LOWER_UP')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${dev} in ${ns} never got a carrier: ${stderr()}`);
}

export interface Guest {
  ns: string;
  dev: string;
  child: ChildProcess;
}

/**
 * A guest on `tap` (in `hostNs`): a relay tap `relayTap` is made beside it, QEMU opens both (as
 * root: this machine's /dev/net/tun may be root-only; not stopped with -S, which would hold every
 * packet in QEMU's queues), then the relay tap moves to `guestNs` with
 * `address`/24 and `mtu`.
 */
export async function relayGuest(o: { hostNs: string; tap: string; relayTap: string; guestNs: string; address: string; mtu: number }): Promise<Guest> {
  sh('ip', ['-n', o.hostNs, 'tuntap', 'add', 'dev', o.relayTap, 'mode', 'tap']);
  sh('ip', ['-n', o.hostNs, 'link', 'set', 'dev', o.relayTap, 'up']);
  const child = spawn('ip', ['netns', 'exec', o.hostNs, 'qemu-system-x86_64', '-M', 'none', '-nodefaults', '-display', 'none',
    '-netdev', `tap,id=t0,ifname=${o.tap},script=no,downscript=no`, '-netdev', `tap,id=t1,ifname=${o.relayTap},script=no,downscript=no`,
    '-netdev', 'hubport,id=p0,hubid=0,netdev=t0', '-netdev', 'hubport,id=p1,hubid=0,netdev=t1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const guest = { ns: o.guestNs, dev: o.relayTap, child };
  try {
    await waitForCarrier(o.hostNs, o.tap, child, () => stderr);
    quietNamespace(o.guestNs);
    sh('ip', ['-n', o.hostNs, 'link', 'set', 'dev', o.relayTap, 'netns', o.guestNs]);
    sh('ip', ['-n', o.guestNs, 'link', 'set', 'dev', o.relayTap, 'mtu', String(o.mtu), 'up']);
    sh('ip', ['-n', o.guestNs, 'addr', 'add', `${o.address}/24`, 'dev', o.relayTap]);
    return guest;
  } catch (error) {
    await stopGuest(guest); // the caller never gets it, so it could not stop it
    throw error;
  }
}

export async function stopGuest(guest: Guest): Promise<void> {
  if (guest.child.exitCode !== null || guest.child.signalCode !== null) return;
  const ended = new Promise((resolve) => guest.child.once('exit', resolve));
  guest.child.kill('SIGKILL');
  await ended;
}

/** busybox ping: true when any of `count` echo requests was answered within `deadlineS`. */
export function ping(ns: string, address: string, count = 2, deadlineS = 3): boolean {
  try {
    // -W too: busybox otherwise waits 10 s for a first answer, whatever -w says.
    sh('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', String(count), '-w', String(deadlineS), '-W', String(deadlineS), address]);
    return true;
  } catch {
    return false;
  }
}
