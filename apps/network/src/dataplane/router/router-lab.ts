/**
 * Test support for the router integration spec (not used by the service): namespaces joined by
 * bridges, and tiny Node servers and clients run inside them (`ip netns exec <ns> node -e ...`,
 * argument arrays only) that report the peer address they see.
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';

export const sh = (file: string, args: string[]): string => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export function canRunLab(): boolean {
  try {
    return process.getuid?.() === 0 && sh('nft', ['--version']).includes('nftables');
  } catch {
    return false;
  }
}

/** A namespace with loopback up and IPv6 off (no stray router solicitations). */
export function quietNamespace(name: string): void {
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  sh('ip', ['-n', name, 'link', 'set', 'dev', 'lo', 'up']);
}

export function namespacesWith(prefix: string): string[] {
  return sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter((n) => n && n.startsWith(prefix));
}

/** Deletes every namespace whose name starts with `prefix` (each attempted even if one fails). */
export function deleteNamespaces(prefix: string): void {
  for (const name of namespacesWith(prefix)) {
    try {
      sh('ip', ['netns', 'del', name]);
    } catch {
      // reported by the leak assertions of the next run
    }
  }
}

/** A host `ns` with `eth0` at `cidr`, plugged into `bridge` (in `bridgeNs`) by a veth `hostSide`. */
export function plugHost(o: { ns: string; bridgeNs: string; bridge: string; hostSide: string; cidr: string; via?: string }): void {
  quietNamespace(o.ns);
  sh('ip', ['-n', o.bridgeNs, 'link', 'add', o.hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o.ns]);
  sh('ip', ['-n', o.bridgeNs, 'link', 'set', 'dev', o.hostSide, 'master', o.bridge, 'up']);
  sh('ip', ['-n', o.ns, 'link', 'set', 'dev', 'eth0', 'up']);
  sh('ip', ['-n', o.ns, 'addr', 'add', o.cidr, 'dev', 'eth0']);
  if (o.via) sh('ip', ['-n', o.ns, 'route', 'add', 'default', 'via', o.via]);
}

/** TCP: answers `<tag> <peer address>`. UDP (port + 1): prints `udp <peer address>` and answers the same way. */
const SERVER = `
const [tag, port] = process.argv.slice(1);
const net = require('net'), dgram = require('dgram');
const tcp = net.createServer((s) => { s.on('error', () => {}); s.end(tag + ' ' + s.remoteAddress); });
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => { console.log('udp ' + r.address); udp.send(tag + ' ' + r.address, r.port, r.address, () => {}); });
udp.on('error', () => {});
tcp.listen(Number(port), '0.0.0.0', () => udp.bind(Number(port) + 1, '0.0.0.0', () => console.log('ready')));
`;

export interface PeerServer {
  child: ChildProcess;
  output: () => string;
}

export async function startServer(ns: string, tag: string, port: number): Promise<PeerServer> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, tag, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  for (let i = 0; i < 100 && !out.includes('ready'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!out.includes('ready')) throw new Error(`server in ${ns} did not start: ${out}`);
  return { child, output: () => out };
}

export async function stopServer(server: PeerServer | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  const ended = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGKILL');
  await ended;
}

const TCP_CLIENT = `
const [host, port] = process.argv.slice(1);
let data = '';
const s = require('net').connect(Number(port), host);
s.on('data', (d) => (data += d)).on('end', () => { console.log(data); process.exit(0); }).on('error', () => process.exit(1));
setTimeout(() => process.exit(2), 1500);
`;

const UDP_CLIENT = `
const [host, port] = process.argv.slice(1);
const u = require('dgram').createSocket('udp4');
u.on('message', (m) => { console.log(String(m)); process.exit(0); });
u.send('hello', Number(port), host);
setTimeout(() => process.exit(2), 1500);
`;

function runClient(ns: string, code: string, host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '-e', code, host, String(port)], { timeout: 5000 }, (error, stdout) =>
      resolve(error ? '' : stdout.trim()));
  });
}

/** What the server at host:port answered over TCP ('' when nothing came back). */
export const tcpAsk = (ns: string, host: string, port: number) => runClient(ns, TCP_CLIENT, host, port);
/** What the server answered to one UDP datagram ('' when nothing came back). */
export const udpAsk = (ns: string, host: string, port: number) => runClient(ns, UDP_CLIENT, host, port);
