/**
 * tcpdump on a VM's TAP inside a host namespace, for isolation checks: which frames reached that
 * port. `ip netns exec <ns> tcpdump -i <tap> -n -e -l`, bounded by a timeout and stopped by the
 * caller in a finally. Parsing of its lines is pure (tap-capture.spec.ts).
 */
import { ChildProcess, spawn } from 'node:child_process';

export interface Frame {
  srcMac: string;
  dstMac: string;
  /** What tcpdump prints after the link header (addresses, protocol). */
  text: string;
  line: string;
}

const MAC = '[0-9a-f]{2}(?::[0-9a-f]{2}){5}';
const FRAME = new RegExp(`^\\S+ (${MAC}) > (${MAC}), (.*)$`);

/** One line of `tcpdump -n -e`; undefined for anything else (headers, continuation lines). */
export function parseFrame(line: string): Frame | undefined {
  const m = FRAME.exec(line.trim());
  return m ? { srcMac: m[1], dstMac: m[2], text: m[3], line: line.trim() } : undefined;
}

const escapeIp = (ip: string) => ip.replace(/\./g, '\\.');

/** Frames from or to one of `macs`, or whose text names one of `ips` (not as a prefix of a longer address). */
export function framesMentioning(frames: Frame[], o: { macs?: string[]; ips?: string[] }): Frame[] {
  const macs = new Set((o.macs ?? []).map((m) => m.toLowerCase()));
  // tcpdump -n prints an address alone or followed by .<port>: 10.0.0.3.68 is 10.0.0.3, 10.0.0.30 is not.
  const ips = (o.ips ?? []).map((ip) => new RegExp(`(?<![\\d.])${escapeIp(ip)}(?!\\d)`));
  return frames.filter((f) => macs.has(f.srcMac) || macs.has(f.dstMac) || ips.some((re) => re.test(f.text)));
}

/** ICMP echo requests or replies between two addresses, in either direction. */
export function icmpBetween(frames: Frame[], a: string, b: string): Frame[] {
  const pair = new RegExp(`(?<![\\d.])(${escapeIp(a)} > ${escapeIp(b)}|${escapeIp(b)} > ${escapeIp(a)}): ICMP echo (request|reply)`);
  return frames.filter((f) => pair.test(f.text));
}

export interface TapCapture {
  /** Stops tcpdump (SIGTERM, SIGKILL if it lingers) and returns the frames it printed. Idempotent. */
  stop(): Promise<Frame[]>;
}

/** Starts tcpdump on `tap` in namespace `netns`; resolves once it listens. */
export function startCapture(netns: string, tap: string, o: { timeoutMs?: number } = {}): Promise<TapCapture> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-i', tap, '-n', '-e', '-l'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: o.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (): Promise<Frame[]> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    return out.split('\n').map(parseFrame).filter((f): f is Frame => f !== undefined);
  };
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) resolve({ stop });
    });
    child.once('error', reject);
    void exited.then(() => reject(new Error(`tcpdump on ${tap} in ${netns} ended before listening: ${err.trim()}`)));
  });
}
