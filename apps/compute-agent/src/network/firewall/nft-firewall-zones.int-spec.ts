/**
 * Conntrack zones against a real kernel: two tenant networks with the SAME addresses on one host
 * (bridges nb-one and nb-two in namespace nbt-f-<pid>-zbr, VMs a1/b1 and a2/b2 as namespaces, all
 * 10.79.0.1 -> 10.79.0.2). b1 accepts UDP 6000, b2 accepts nothing. Without zones, a2's datagram
 * with the same 5-tuple as an answered flow of net one is "established" and reaches b2; with a
 * zone per bridge it is new and dropped. UDP peers are tiny node scripts (busybox nc has no UDP).
 */
import { ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { PortFirewallSpec, SecurityGroupRuleSpec } from './firewall-spec';
import { NftFirewall } from './nft-firewall';

const run = promisify(execFile);
const usable = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0;
const describeLab = usable ? describe : describe.skip;

const PREFIX = `nbt-f-${process.pid}-z`;
const BRIDGE_NS = `${PREFIX}br`;
const VMS = {
  a1: { bridge: 'nb-one', tap: 'nt-a1', ip: '10.79.0.1', mac: '02:79:00:00:01:01', portId: 'a1a1a1a1-0000-4000-8000-000000000001' },
  b1: { bridge: 'nb-one', tap: 'nt-b1', ip: '10.79.0.2', mac: '02:79:00:00:01:02', portId: 'b1b1b1b1-0000-4000-8000-000000000002' },
  a2: { bridge: 'nb-two', tap: 'nt-a2', ip: '10.79.0.1', mac: '02:79:00:00:02:01', portId: 'a2a2a2a2-0000-4000-8000-000000000003' },
  b2: { bridge: 'nb-two', tap: 'nt-b2', ip: '10.79.0.2', mac: '02:79:00:00:02:02', portId: 'b2b2b2b2-0000-4000-8000-000000000004' },
};
type VmName = keyof typeof VMS;
const nsOf = (vm: VmName) => `${PREFIX}${vm}`;
const ip = (args: string[]) => run('ip', args, { timeout: 10_000 });

/** Prints each datagram on a line and echoes it back (so the flow is answered: established). */
const RECEIVER = "const s=require('dgram').createSocket('udp4');"
  + "s.on('message',(m,r)=>{process.stdout.write(m+'\\n');s.send(m,r.port,r.address)});s.bind(Number(process.argv[1]))";
const SENDER = "const s=require('dgram').createSocket('udp4');"
  + "s.bind(Number(process.argv[1]),()=>s.send(process.argv[4],Number(process.argv[3]),process.argv[2],()=>s.close()))";

const egressAll: SecurityGroupRuleSpec = { direction: 'egress', ethertype: 'IPv4' };
const udp6000: SecurityGroupRuleSpec = { direction: 'ingress', ethertype: 'IPv4', protocol: 'udp', port_range_min: 6000 };

function specs(withBridges: boolean): PortFirewallSpec[] {
  return (Object.keys(VMS) as VmName[]).map((vm) => {
    const { bridge, tap, ip: address, mac, portId } = VMS[vm];
    const rules = vm === 'b1' ? [egressAll, udp6000] : [egressAll];
    return { portId, tap, mac, fixedIps: [address], portSecurityEnabled: true, rules, ...(withBridges ? { bridge } : {}) };
  });
}

describeLab(`${NftFirewall.name} conntrack zones`, () => {
  const firewall = new NftFirewall({ netns: BRIDGE_NS });
  const receivers: ChildProcess[] = [];
  const received: Record<string, string> = { b1: '', b2: '' };

  async function send(from: VmName, sport: number, text: string): Promise<void> {
    await run('ip', ['netns', 'exec', nsOf(from), process.execPath, '-e', SENDER, String(sport), '10.79.0.2', '6000', text], { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }

  beforeAll(async () => {
    await ip(['netns', 'add', BRIDGE_NS]);
    await firewall.prepareHost();
    for (const bridge of ['nb-one', 'nb-two']) {
      await ip(['-n', BRIDGE_NS, 'link', 'add', bridge, 'type', 'bridge']);
      await ip(['-n', BRIDGE_NS, 'link', 'set', bridge, 'up']);
    }
    for (const vm of Object.keys(VMS) as VmName[]) {
      const { bridge, tap, ip: address, mac } = VMS[vm];
      await ip(['netns', 'add', nsOf(vm)]);
      await ip(['-n', BRIDGE_NS, 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(vm)]);
      await ip(['-n', BRIDGE_NS, 'link', 'set', tap, 'master', bridge, 'up']);
      await ip(['-n', nsOf(vm), 'link', 'set', 'eth0', 'address', mac, 'up']);
      await ip(['-n', nsOf(vm), 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    }
    for (const vm of ['b1', 'b2'] as const) {
      const child = spawn('ip', ['netns', 'exec', nsOf(vm), process.execPath, '-e', RECEIVER, '6000'], { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout!.on('data', (chunk: Buffer) => (received[vm] += chunk.toString()));
      receivers.push(child);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  });

  afterAll(async () => {
    for (const child of receivers) child.kill('SIGKILL');
    for (const ns of [...(Object.keys(VMS) as VmName[]).map(nsOf), BRIDGE_NS]) await ip(['netns', 'del', ns]).catch(() => undefined);
    expect(readdirSync('/run/netns').filter((name) => name.startsWith(PREFIX))).toEqual([]);
  });

  it('without zones, lets a flow of one network open the same 5-tuple in another (the leak zones close)', async () => {
    await firewall.apply(specs(false));
    await send('a1', 5000, 'one-1');
    expect(received.b1).toContain('one-1');
    await send('a2', 5000, 'two-1');
    expect(received.b2).toContain('two-1');
  });

  it('with a zone per bridge, keeps the connection state of two networks apart', async () => {
    const result = await firewall.apply(specs(true));
    expect(result.chains.inet).toContain('zones');
    await send('a1', 5001, 'one-2');
    expect(received.b1).toContain('one-2');
    await send('a2', 5001, 'two-2');
    expect(received.b2).not.toContain('two-2');
  });
});
