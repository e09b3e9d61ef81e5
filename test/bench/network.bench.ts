/**
 * bench:network: a compute host's tenant data plane (deploy/bench.sh network; root, no cloud).
 * In a namespace of its own with an underlay veth, one VXLAN network:
 *   ports: 50 ports plumbed one after the other by the agent's network sync (the whole host state
 *     pushed each time, as the network service does: links planned from observed state and
 *     converged, then the whole firewall loaded in one nft transaction), each timed until the call
 *     returns (tap up in its bridge, rules in); against the same kernel objects made directly
 *     (`ip tuntap add`, `ip link set master up`, `nft -f` of that port's chains added to the table).
 *   rules: 1000 security-group rules over 20 ports applied by the firewall (compile + one load),
 *     against `nft -f` of the same ruleset text alone.
 * The agent-side cost only: the API, the network service and NATS are not in these numbers.
 * Progress on stderr, one JSON line on stdout.
 */
import { Logger } from '@nestjs/common';
import { HostNetworkState, PortPlan } from '@nubo/contracts';
import { HostLinks } from '@nubo/netlinks';
import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { NftFirewall } from '../../apps/compute-agent/src/network/firewall';
import { runNft } from '../../apps/compute-agent/src/network/firewall/nft-runner';
import { NetworkSync, firewallSpec } from '../../apps/compute-agent/src/network/network-sync';

const PORTS = 50;
const RULE_PORTS = 20;
const RULES = 1000;
const NS = `nbb-${process.pid}`;
const RAW_NS = `nbb-raw-${process.pid}`;
const NETWORK = 'b0000000-0000-4000-8000-000000000001';
const log = (line: string) => process.stderr.write(`[bench:network] ${line}\n`);
const sh = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (n: number) => Math.round(n * 100) / 100;

/** Tap names take an id's first 12 hex digits: the ids differ there, as random UUIDs do. */
const portId = (i: number) => `${i.toString(16).padStart(8, '0')}-b000-4000-8000-000000000000`;
const mac = (i: number) => `fa:16:3e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
function port(i: number, rules: number): PortPlan {
  return {
    id: portId(i),
    networkId: NETWORK,
    mac: mac(i),
    fixedIps: [`10.90.${i >> 8}.${(i & 0xff) + 2}`],
    allowedAddressPairs: [],
    portSecurityEnabled: true,
    rules: [
      { direction: 'egress', ethertype: 'IPv4' },
      ...Array.from({ length: rules }, (_, r) => ({ direction: 'ingress' as const, ethertype: 'IPv4' as const, protocol: 'tcp', portRangeMin: 1000 + r, portRangeMax: 1000 + r })),
    ],
  };
}

function namespace(name: string): void {
  sh(['netns', 'add', name]);
  sh(['-n', name, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0p']);
  sh(['-n', name, 'addr', 'add', '10.82.0.1/24', 'dev', 'ul0']);
  for (const dev of ['lo', 'ul0', 'ul0p']) sh(['-n', name, 'link', 'set', dev, 'up']);
}

async function ours(): Promise<number[]> {
  namespace(NS);
  const firewall = new NftFirewall({ netns: NS });
  const sync = new NetworkSync(new HostLinks({ netns: NS }), firewall, { underlayAddress: '10.82.0.1', physicalInterfaces: {}, prepare: () => firewall.prepareHost() });
  const network = { id: NETWORK, type: 'vxlan' as const, segmentationId: 4900, mtu: 1450, peers: ['10.82.0.2'] };
  await sync.sync({ networks: [network], ports: [] });
  const times: number[] = [];
  const ports: PortPlan[] = [];
  for (let i = 1; i <= PORTS; i++) {
    ports.push(port(i, 2));
    const state: HostNetworkState = { networks: [network], ports: [...ports] };
    const t0 = performance.now();
    await sync.sync(state);
    times.push(performance.now() - t0);
  }
  return times;
}

/** The same objects by hand: the bridge and VXLAN once, then per port a tap in the bridge and its chains in the table. */
async function raw(): Promise<number[]> {
  namespace(RAW_NS);
  const firewall = new NftFirewall({ netns: RAW_NS });
  await firewall.prepareHost();
  sh(['-n', RAW_NS, 'link', 'add', 'rb0', 'type', 'bridge']);
  sh(['-n', RAW_NS, 'link', 'add', 'rv0', 'type', 'vxlan', 'id', '4900', 'local', '10.82.0.1', 'dstport', '4789', 'nolearning']);
  sh(['-n', RAW_NS, 'link', 'set', 'rv0', 'master', 'rb0', 'up']);
  sh(['-n', RAW_NS, 'link', 'set', 'rb0', 'up']);
  // The table as the firewall makes it for one port, loaded once; each port then adds its own chains (the text of one port's ruleset minus the table setup).
  const times: number[] = [];
  for (let i = 1; i <= PORTS; i++) {
    const spec = firewallSpec(port(i, 2));
    const text = firewall.compile([spec]).text;
    const t0 = performance.now();
    sh(['-n', RAW_NS, 'tuntap', 'add', 'dev', spec.tap, 'mode', 'tap']);
    sh(['-n', RAW_NS, 'link', 'set', spec.tap, 'master', 'rb0', 'mtu', '1450', 'up']);
    await runNft(['-f', '-'], text, { netns: RAW_NS });
    times.push(performance.now() - t0);
  }
  return times;
}

async function rules(): Promise<{ ours: number; raw: number }> {
  const firewall = new NftFirewall({ netns: NS });
  const specs = Array.from({ length: RULE_PORTS }, (_, i) => firewallSpec(port(1000 + i, RULES / RULE_PORTS)));
  const oursMs: number[] = [];
  const rawMs: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const applied = await firewall.apply(specs);
    oursMs.push(performance.now() - t0);
    const t1 = performance.now();
    await runNft(['-f', '-'], applied.text, { netns: NS });
    rawMs.push(performance.now() - t1);
  }
  return { ours: p50(oursMs), raw: p50(rawMs) };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:network needs root (namespaces, taps, nftables)');
  Logger.overrideLogger(['error']);
  try {
    log(`ours: ${PORTS} ports plumbed one by one through the agent's network sync`);
    const portsOurs = await ours();
    log(`raw: the same taps and chains with ip and nft`);
    const portsRaw = await raw();
    log(`rules: ${RULES} rules over ${RULE_PORTS} ports, 5 rounds`);
    const r = await rules();
    const out = {
      name: 'network',
      port_ready_p50_ms: round(p50(portsOurs)),
      raw_port_p50_ms: round(p50(portsRaw)),
      port_ratio: round(p50(portsOurs) / p50(portsRaw)),
      rules_apply_ms: round(r.ours),
      raw_rules_apply_ms: round(r.raw),
      rules_ratio: round(r.ours / r.raw),
    };
    log(`last port: ours ${round(portsOurs.at(-1)!)} ms (whole host state), raw ${round(portsRaw.at(-1)!)} ms`);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    for (const ns of [NS, RAW_NS]) spawnSync('ip', ['netns', 'delete', ns]);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`[bench:network] failed: ${error.stack ?? error.message}\n`);
  for (const ns of [NS, RAW_NS]) spawnSync('ip', ['netns', 'delete', ns]);
  process.exit(1);
});
