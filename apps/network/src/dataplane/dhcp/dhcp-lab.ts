/**
 * Test support for the DHCP integration spec (not used by the service): a bridge in a namespace,
 * "VMs" that are namespaces on a veth into it, and busybox udhcpc run the way the test guest runs
 * it (-O mtu), with a script that applies the address and MTU and records what it was offered.
 * It applies no default route: a test namespace never gets one. Everything by argument arrays.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const sh = (file: string, args: string[]): string => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export const hasCommand = (name: string): boolean => {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

export function namespacesWith(prefix: string): string[] {
  return sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(prefix));
}

/** Kills whatever runs in the namespaces and deletes them. */
export function deleteNamespaces(prefix: string): void {
  for (const ns of namespacesWith(prefix)) {
    for (const pid of sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    sh('ip', ['netns', 'del', ns]);
  }
}

export function quietNamespace(name: string): void {
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export interface Vm {
  ns: string;
  dev: string;
}

/** A namespace whose `dev` (MAC `mac`, MTU 1500) is a veth into `bridge` of `bridgeNs`. */
export function attachVm(o: { bridgeNs: string; bridge: string; ns: string; dev: string; peer: string; mac: string }): Vm {
  quietNamespace(o.ns);
  sh('ip', ['-n', o.bridgeNs, 'link', 'add', 'name', o.peer, 'type', 'veth', 'peer', 'name', o.dev, 'netns', o.ns]);
  sh('ip', ['-n', o.bridgeNs, 'link', 'set', 'dev', o.peer, 'master', o.bridge, 'up']);
  sh('ip', ['-n', o.ns, 'link', 'set', 'dev', o.dev, 'address', o.mac, 'mtu', '1500', 'up']);
  return { ns: o.ns, dev: o.dev };
}

const SCRIPT = `#!/bin/sh
# udhcpc event script: $1 = deconfig | bound | renew | leasefail | nak, the lease in the environment.
case $1 in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew)
    ip addr add "$ip/$subnet" dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    printf 'ip=%s\\nsubnet=%s\\nrouter=%s\\nmtu=%s\\nhostname=%s\\nstaticroutes=%s\\n' "$ip" "$subnet" "$router" "$mtu" "$hostname" "$staticroutes" > "$NBT_OFFER"
    ;;
esac
exit 0
`;

export function writeScript(dir: string): string {
  const path = join(dir, 'udhcpc.script');
  writeFileSync(path, SCRIPT);
  chmodSync(path, 0o755);
  return path;
}

export interface Offer {
  ok: boolean;
  fields: Record<string, string>;
  /** udhcpc's own messages, for failure reports. */
  log: string;
}

/** One `udhcpc -n -q` run (gives up after 2 discovers 1 s apart): what it was offered, if anything. */
export function udhcpc(vm: Vm, script: string, dir: string): Promise<Offer> {
  const out = join(dir, `offer-${vm.ns}`);
  rmSync(out, { force: true });
  const args = ['netns', 'exec', vm.ns, 'busybox', 'udhcpc', '-i', vm.dev, '-n', '-q', '-O', 'mtu', '-O', 'staticroutes', '-t', '2', '-T', '1', '-s', script];
  return new Promise((resolve) => {
    execFile('ip', args, { env: { ...process.env, NBT_OFFER: out }, timeout: 20_000 }, (error, stdout, stderr) => {
      let text = '';
      try {
        text = readFileSync(out, 'utf8');
      } catch {
        // no offer recorded
      }
      const fields = Object.fromEntries(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      resolve({ ok: !error, fields, log: `${stdout}${stderr}` });
    });
  });
}

export const addresses = (ns: string, dev: string): string[] =>
  (JSON.parse(sh('ip', ['-n', ns, '-json', '-4', 'addr', 'show', 'dev', dev])) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)
    .flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));

export const link = (ns: string | undefined, dev: string): { mtu: number; address: string; master?: string; operstate: string } =>
  JSON.parse(sh('ip', [...(ns ? ['-n', ns] : []), '-json', 'link', 'show', 'dev', dev]))[0];
