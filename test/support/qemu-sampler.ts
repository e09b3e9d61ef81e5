/**
 * Watches the QEMUs of some servers across every host of the e2e cloud, every ~100 ms, for the
 * whole of a fault: the most QEMUs a server ever had at once, and the hosts its QEMUs ran on
 * since the fault (a recovery done twice shows as two QEMUs, or one on a second new host).
 */
import { execFileSync } from 'node:child_process';
import { cloudQemus } from './host-faults';

/** The namespace of a pid, quietly (a QEMU may exit between the scan and the lookup). */
const netnsOf = (pid: number) => execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

export class QemuSampler {
  readonly most = new Map<string, number>();
  readonly hostsSince = new Map<string, Set<string>>();
  samples = 0;
  private timer?: NodeJS.Timeout;
  private since = Infinity;

  constructor(private readonly ids: string[]) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), 100);
  }

  /** From now on, record the hosts each server's QEMU runs on. */
  markFault(): void {
    this.since = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Hosts other than `except` where a QEMU of `id` ran since the fault. */
  newHosts(id: string, except: string): string[] {
    return [...(this.hostsSince.get(id) ?? [])].filter((h) => h !== except);
  }

  private sample(): void {
    this.samples++;
    const seen = new Map<string, number[]>();
    for (const q of cloudQemus()) if (this.ids.includes(q.serverId)) seen.set(q.serverId, [...(seen.get(q.serverId) ?? []), q.pid]);
    for (const [id, pids] of seen) {
      this.most.set(id, Math.max(this.most.get(id) ?? 0, pids.length));
      if (Date.now() < this.since) continue;
      const hosts = this.hostsSince.get(id) ?? new Set<string>();
      for (const pid of pids) {
        try {
          const ns = netnsOf(pid);
          if (ns) hosts.add(ns);
        } catch {
          // Exited between the scan and the lookup.
        }
      }
      this.hostsSince.set(id, hosts);
    }
  }
}
