/**
 * Kernel samepage merging on the host: the agent turns it on at boot when told to
 * (NUBO_AGENT_KSM=on) and reads its counters for every heartbeat. It never turns KSM off, not
 * even at exit: other agents (and other programs) may share the kernel. A host where it cannot
 * be turned on (read-only sysfs in a container, a kernel without KSM) is reported unavailable;
 * the agent runs on regardless.
 */
import { Logger } from '@nestjs/common';
import { KsmStats } from '@nubo/contracts';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const KSM_SYSFS_DIR = '/sys/kernel/mm/ksm';

export interface HostKsmOptions {
  /** Turn KSM on at boot. Off: counters are still read (another agent may have turned it on). */
  enabled: boolean;
  /** Injectable for tests; default /sys/kernel/mm/ksm. */
  sysfsDir?: string;
}

const COUNTERS = {
  run: 'run',
  pagesShared: 'pages_shared',
  pagesSharing: 'pages_sharing',
  pagesUnshared: 'pages_unshared',
  fullScans: 'full_scans',
} as const;

export class HostKsm {
  private readonly logger = new Logger(HostKsm.name);
  private readonly dir: string;
  /** Why KSM could not be turned on; set once by enable(). */
  private failure?: string;

  constructor(private readonly options: HostKsmOptions) {
    this.dir = options.sysfsDir ?? KSM_SYSFS_DIR;
  }

  /** Turns KSM on (run = 1) when enabled. Never throws: a failure is logged once and reported. */
  async enable(): Promise<void> {
    if (!this.options.enabled) return;
    const path = join(this.dir, COUNTERS.run);
    try {
      if ((await readFile(path, 'utf8')).trim() === '1') {
        this.logger.log(`KSM already on (${path})`);
        return;
      }
      await writeFile(path, '1');
      this.logger.log(`KSM turned on (${path})`);
    } catch (error) {
      this.failure = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      this.logger.warn(`KSM unavailable: could not turn it on at ${path} (${this.failure}); the agent runs without it`);
    }
  }

  /** The counters as the kernel has them now; null for any it cannot read. */
  async read(): Promise<KsmStats> {
    const entries = await Promise.all(
      Object.entries(COUNTERS).map(async ([key, file]) => [key, await this.readCounter(file)] as const),
    );
    const values = Object.fromEntries(entries) as Record<keyof typeof COUNTERS, number | null>;
    return { enabled: this.options.enabled, available: this.failure === undefined && values.run !== null, ...values };
  }

  private async readCounter(file: string): Promise<number | null> {
    try {
      const text = (await readFile(join(this.dir, file), 'utf8')).trim();
      return /^\d+$/.test(text) ? Number(text) : null;
    } catch {
      return null;
    }
  }
}
