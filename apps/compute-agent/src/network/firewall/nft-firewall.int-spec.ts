/**
 * The firewall against a real kernel: a bridge in namespace nbt-f-<pid>-br with three veth
 * "ports" whose other ends sit in namespaces a, b, c acting as VMs (10.79.0.1-3/24). Real packets
 * prove each property. Needs root, nft and busybox (nc, ping); everything is removed in afterAll.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { PortFirewallSpec, SecurityGroupRuleSpec } from './firewall-spec';
import { linkLocalOf } from './net-values';
import { NftFirewall } from './nft-firewall';
import { runNft } from './nft-runner';

const run = promisify(execFile);
const usable = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('busybox', ['nc', '--help']).status !== null;
const describeLab = usable ? describe : describe.skip;
if (!usable) console.warn('nft-firewall.int-spec skipped: needs root, nft and busybox');

const PREFIX = `nbt-f-${process.pid}`;
const BRIDGE_NS = `${PREFIX}-br`;
const VMS = {
  a: { ns: `${PREFIX}-a`, tap: 'nt-a', ip: '10.79.0.1', mac: '02:79:00:00:00:01', portId: 'aaaaaaaa-0000-4000-8000-000000000001' },
  b: { ns: `${PREFIX}-b`, tap: 'nt-b', ip: '10.79.0.2', mac: '02:79:00:00:00:02', portId: 'bbbbbbbb-0000-4000-8000-000000000002' },
  c: { ns: `${PREFIX}-c`, tap: 'nt-c', ip: '10.79.0.3', mac: '02:79:00:00:00:03', portId: 'cccccccc-0000-4000-8000-000000000003' },
};
type VmName = keyof typeof VMS;

const ip = (args: string[]) => run('ip', args, { timeout: 10_000 });
const inNs = (ns: string, file: string, args: string[]) => run('ip', ['netns', 'exec', ns, file, ...args], { timeout: 10_000 });

const egressAll: SecurityGroupRuleSpec[] = [{ direction: 'egress', ethertype: 'IPv4' }];
const tcp7777: SecurityGroupRuleSpec = { direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 7777, port_range_max: 7777 };
const icmpIn: SecurityGroupRuleSpec = { direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '10.79.0.0/24' };

function spec(vm: VmName, rules: SecurityGroupRuleSpec[] = egressAll): PortFirewallSpec {
  const { tap, ip: address, mac, portId } = VMS[vm];
  return { portId, tap, bridge: 'br0', mac, fixedIps: [address], portSecurityEnabled: true, rules };
}

/** A, C and B with these extra ingress rules on B. */
const host = (bRules: SecurityGroupRuleSpec[] = []) => [spec('a'), spec('b', [...egressAll, ...bRules]), spec('c')];

async function tcpReaches(from: VmName, to: VmName): Promise<boolean> {
  try {
    const { stdout } = await inNs(VMS[from].ns, 'busybox', ['nc', '-w', '1', VMS[to].ip, '7777']);
    return stdout.includes('hello');
  } catch {
    return false;
  }
}

async function pingReaches(from: VmName, to: VmName): Promise<boolean> {
  try {
    await inNs(VMS[from].ns, 'busybox', ['ping', '-c', '1', '-W', '1', VMS[to].ip]);
    return true;
  } catch {
    return false;
  }
}

/** Over the link-local addresses the kernel derives from the MACs (neighbour discovery included). */
async function ping6Reaches(from: VmName, to: VmName): Promise<boolean> {
  try {
    await inNs(VMS[from].ns, 'busybox', ['ping6', '-c', '1', '-W', '1', '-I', 'eth0', linkLocalOf(VMS[to].mac).text]);
    return true;
  } catch {
    return false;
  }
}

async function setAddress(vm: VmName, address: string): Promise<void> {
  await ip(['-n', VMS[vm].ns, 'addr', 'flush', 'dev', 'eth0']);
  await ip(['-n', VMS[vm].ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
}

describeLab(`${NftFirewall.name} on a real bridge`, () => {
  const firewall = new NftFirewall({ netns: BRIDGE_NS });
  const listeners: number[] = [];

  beforeAll(async () => {
    for (const ns of [BRIDGE_NS, ...Object.values(VMS).map((vm) => vm.ns)]) await ip(['netns', 'add', ns]);
    await ip(['-n', BRIDGE_NS, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', BRIDGE_NS, 'link', 'set', 'br0', 'up']);
    await firewall.prepareHost();
    for (const vm of Object.values(VMS)) {
      await ip(['-n', BRIDGE_NS, 'link', 'add', vm.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm.ns]);
      await ip(['-n', BRIDGE_NS, 'link', 'set', vm.tap, 'master', 'br0', 'up']);
      await ip(['-n', vm.ns, 'link', 'set', 'eth0', 'address', vm.mac, 'up']);
      await ip(['-n', vm.ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', vm.ns, 'addr', 'add', `${vm.ip}/24`, 'dev', 'eth0']);
    }
    const listener = spawn('ip', ['netns', 'exec', VMS.b.ns, 'busybox', 'nc', '-ll', '-p', '7777', '-e', 'busybox', 'echo', 'hello'], { stdio: 'ignore' });
    listeners.push(listener.pid!);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await tcpReaches('a', 'b')).toBe(true); // the lab works before any rule
  });

  afterAll(async () => {
    for (const pid of listeners) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    for (const ns of [...Object.values(VMS).map((vm) => vm.ns), BRIDGE_NS]) await ip(['netns', 'del', ns]).catch(() => undefined);
    expect(readdirSync('/run/netns').filter((name) => name.startsWith(PREFIX))).toEqual([]);
  });

  it('loads every golden ruleset (nft --check)', async () => {
    const dir = join(__dirname, '__golden__');
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.nft'))) {
      await expect(runNft(['-c', '-f', join(dir, file)], undefined, { netns: BRIDGE_NS })).resolves.toBe('');
    }
  });

  it('refuses TCP to port 7777 until a rule opens it, lets it through after, refuses it again once the rule is removed', async () => {
    await firewall.apply(host());
    expect(await tcpReaches('a', 'b')).toBe(false);
    const opened = await firewall.apply(host([tcp7777]));
    expect(opened.outcomes.map((outcome) => outcome.status)).toEqual(['filtered', 'filtered', 'filtered']);
    expect(await tcpReaches('a', 'b')).toBe(true);
    await firewall.apply(host());
    expect(await tcpReaches('a', 'b')).toBe(false);
  });

  it('blocks ping without an icmp rule and passes it with one', async () => {
    await firewall.apply(host([tcp7777]));
    expect(await pingReaches('a', 'b')).toBe(false);
    await firewall.apply(host([icmpIn]));
    expect(await pingReaches('a', 'b')).toBe(true);
  });

  it('passes IPv6 (link-local, after neighbour discovery) only with an icmpv6 rule', async () => {
    const icmp6In: SecurityGroupRuleSpec = { direction: 'ingress', ethertype: 'IPv6', protocol: 'icmp' };
    const egress6: SecurityGroupRuleSpec = { direction: 'egress', ethertype: 'IPv6' };
    await firewall.apply([spec('a', [egress6]), spec('b', [egress6]), spec('c')]);
    expect(await ping6Reaches('a', 'b')).toBe(false);
    await firewall.apply([spec('a', [egress6]), spec('b', [egress6, icmp6In]), spec('c')]);
    expect(await ping6Reaches('a', 'b')).toBe(true);
  });

  it('passes nothing from a VM that changes its IP or its MAC', async () => {
    await firewall.apply(host([tcp7777, icmpIn]));
    expect(await pingReaches('a', 'b')).toBe(true);
    try {
      await setAddress('a', '10.79.0.9');
      expect(await pingReaches('a', 'b')).toBe(false);
      expect(await tcpReaches('a', 'b')).toBe(false);
    } finally {
      await setAddress('a', VMS.a.ip);
    }
    try {
      await ip(['-n', VMS.a.ns, 'link', 'set', 'eth0', 'address', '02:79:00:00:00:99']);
      expect(await pingReaches('a', 'b')).toBe(false);
      expect(await tcpReaches('a', 'b')).toBe(false);
    } finally {
      await ip(['-n', VMS.a.ns, 'link', 'set', 'eth0', 'address', VMS.a.mac]);
    }
    expect(await tcpReaches('a', 'b')).toBe(true);
  });

  it('blocks only the port whose spec is invalid and filters the others as asked', async () => {
    const badA = { ...spec('a'), rules: [{ ...tcp7777, port_range_min: 99999 }] };
    const result = await firewall.apply([badA, spec('b', [...egressAll, tcp7777]), spec('c')]);
    expect(result.outcomes.map((outcome) => [outcome.status, outcome.error?.field])).toEqual([
      ['blocked', 'rules[0].port_range_min'], ['filtered', undefined], ['filtered', undefined],
    ]);
    expect(await tcpReaches('a', 'b')).toBe(false);
    expect(await tcpReaches('c', 'b')).toBe(true);
  });

  it('keeps the previous rules working when a new ruleset fails to load', async () => {
    await firewall.apply(host([tcp7777]));
    const before = (await runNft(['list', 'ruleset'], undefined, { netns: BRIDGE_NS }));
    const closedButBroken = `${firewall.compile(host()).text}add rule inet nubo_sg no_such_chain accept\n`;
    await expect(firewall.load(closedButBroken)).rejects.toThrow(/nft -f - failed: .*No such file or directory/);
    expect(await runNft(['list', 'ruleset'], undefined, { netns: BRIDGE_NS })).toBe(before);
    expect(await tcpReaches('a', 'b')).toBe(true);
  });

  it('loads the same ruleset when applied twice with the same ports', async () => {
    const first = await firewall.apply(host([tcp7777]));
    const listed = await runNft(['list', 'ruleset'], undefined, { netns: BRIDGE_NS });
    const second = await firewall.apply([...host([tcp7777])].reverse());
    expect(second.text).toBe(first.text);
    expect(await runNft(['list', 'ruleset'], undefined, { netns: BRIDGE_NS })).toBe(listed);
    expect(await tcpReaches('a', 'b')).toBe(true);
  });

  it('fails closed when br_netfilter stops handing bridged packets to the inet table', async () => {
    await firewall.apply(host([tcp7777]));
    try {
      await inNs(BRIDGE_NS, 'sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=0']);
      expect(await tcpReaches('a', 'b')).toBe(false);
    } finally {
      await inNs(BRIDGE_NS, 'sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
    }
    expect(await tcpReaches('a', 'b')).toBe(true);
  });

  it('lets everything through for a port without port security', async () => {
    await firewall.apply([spec('a'), { ...spec('b'), portSecurityEnabled: false }, spec('c')]);
    expect(await pingReaches('a', 'b')).toBe(true);
    expect(await tcpReaches('a', 'b')).toBe(true);
  });

  it('reports leftovers, and leaves no table behind once the last port is gone', async () => {
    await firewall.apply(host());
    expect((await firewall.drift(host())).leaked).toEqual([]);
    expect((await firewall.drift([spec('a')])).leaked.map((leak) => leak.name)).toEqual(
      expect.arrayContaining(['t_bbbbbbbb000040008000000000000002', 'e_cccccccc000040008000000000000003']),
    );
    await firewall.apply([]);
    expect(await firewall.drift([])).toEqual({ leaked: [], missing: [] });
    await firewall.clear(); // idempotent with nothing loaded
    expect(await tcpReaches('a', 'b')).toBe(true);
  });

  it('measures applying 1000 rules over 20 ports against nft -f of the same text alone', async () => {
    const ports: PortFirewallSpec[] = Array.from({ length: 20 }, (_, p) => ({
      portId: `dddddddd-0000-4000-8000-${String(p).padStart(12, '0')}`, tap: `nt-perf${p}`, mac: `02:80:00:00:00:${(p + 1).toString(16).padStart(2, '0')}`,
      fixedIps: [`10.80.0.${p + 1}`], portSecurityEnabled: true,
      rules: Array.from({ length: 50 }, (_, r) => ({ direction: r % 2 ? 'egress' : 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 1000 + r, remote_ip_prefix: `10.${p}.${r}.0/24` }) as SecurityGroupRuleSpec),
    }));
    const perf = new NftFirewall({ netns: BRIDGE_NS, table: 'nbt_f_perf' });
    try {
      const started = performance.now();
      const result = await perf.apply(ports);
      const applyMs = performance.now() - started;
      const nftStarted = performance.now();
      await runNft(['-f', '-'], result.text, { netns: BRIDGE_NS });
      const nftMs = performance.now() - nftStarted;
      console.log(`firewall: apply of 20 ports x 50 rules (1000 rules, ${result.text.length} bytes) took ${applyMs.toFixed(1)} ms `
        + `(nft -f inside: ${result.loadMs.toFixed(1)} ms); nft -f of the same text alone: ${nftMs.toFixed(1)} ms`);
      expect(result.outcomes.every((outcome) => outcome.status === 'filtered')).toBe(true);
    } finally {
      await perf.clear();
    }
  });
});
