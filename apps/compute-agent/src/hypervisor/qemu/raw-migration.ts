/**
 * The baseline for the live-migration benchmark: two bare QEMUs (firmware-only guests) and QMP
 * alone, with the same capabilities and parameters the agent sets (migration-params.ts, and the
 * channels of qemu-migration-quirks.ts), over TCP on loopback. Measures what QEMU reports: total time and downtime. Not wired into package.json.
 */
import { MigrationParameters } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destinationCapabilities, destinationParameters, sourceCapabilities, sourceParameters } from './migration-params';
import { qemuVersionOf, safeChannels } from './qemu-migration-quirks';
import { sleep } from './qemu-process';

export interface RawMigrationOptions {
  ramMb: number;
  accelerator: 'kvm' | 'tcg';
  parameters: MigrationParameters;
  /** Loopback port of the destination's listener. */
  port: number;
  qemuBinary?: string;
  timeoutMs?: number;
}

export interface RawMigrationResult {
  totalTimeMs: number;
  downtimeMs: number;
  ramBytes: number;
  /** Measured by the harness: from `migrate` to `completed` as seen over QMP. */
  wallTimeMs: number;
}

export async function runRawMigration(options: RawMigrationOptions): Promise<RawMigrationResult> {
  const dir = mkdtempSync(join(tmpdir(), 'raw-mig-'));
  const children: ChildProcess[] = [];
  const clients: QmpClient[] = [];
  const start = async (name: string, extra: string[]): Promise<QmpClient> => {
    const socket = join(dir, `${name}.sock`);
    const argv = ['-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'q35', '-accel', options.accelerator, '-cpu', 'qemu64', '-m', `${options.ramMb}M`,
      '-chardev', `socket,id=qmp,path=${socket},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control', ...extra];
    children.push(spawn(options.qemuBinary ?? 'qemu-system-x86_64', argv, { stdio: 'ignore' }));
    for (let i = 0; ; i++) {
      try {
        const client = await QmpClient.connect(socket, { timeoutMs: 2_000 });
        clients.push(client);
        return client;
      } catch (error) {
        if (i > 300) throw error;
        await sleep(10);
      }
    }
  };
  try {
    const source = await start('src', []);
    const destination = await start('dst', ['-incoming', 'defer']);
    const parameters = safeChannels(options.parameters, await qemuVersionOf(source));
    await destination.execute('migrate-set-capabilities', { capabilities: destinationCapabilities(parameters) });
    const dstParams = destinationParameters(parameters);
    if (Object.keys(dstParams).length) await destination.execute('migrate-set-parameters', dstParams);
    await destination.execute('migrate-incoming', { uri: `tcp:127.0.0.1:${options.port}` });
    await source.execute('migrate-set-capabilities', { capabilities: sourceCapabilities(parameters, { block: false }) });
    await source.execute('migrate-set-parameters', sourceParameters(parameters));
    const began = Date.now();
    await source.execute('migrate', { uri: `tcp:127.0.0.1:${options.port}` });
    const deadline = began + (options.timeoutMs ?? 120_000);
    for (;;) {
      const info = await source.execute<{ status?: string; 'total-time'?: number; downtime?: number; ram?: { total?: number }; 'error-desc'?: string }>('query-migrate');
      if (info.status === 'completed') {
        return { totalTimeMs: info['total-time'] ?? 0, downtimeMs: info.downtime ?? 0, ramBytes: info.ram?.total ?? 0, wallTimeMs: Date.now() - began };
      }
      if (info.status === 'failed' || info.status === 'cancelled') throw new Error(`raw migration ${info.status}: ${info['error-desc'] ?? ''}`);
      if (Date.now() > deadline) throw new Error(`raw migration not completed in time (${info.status})`);
      await sleep(10);
    }
  } finally {
    for (const client of clients) client.close();
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
