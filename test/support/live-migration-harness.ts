/**
 * Two "hosts" for the agent's live-migration integration specs (qemu-live-migration*.int-spec.ts):
 * two QemuDrivers on two state dirs of one temporary directory, loopback as their underlay, the
 * listener firewall in a table of the spec's own (root netns), each host with its own listener
 * ports. Either host may be source or destination. `close()` kills whatever QEMU a spec left and
 * removes the table and the files.
 */
import { InstanceSpec, MigrationParameters, MigrationStatusReply } from '@nubo/contracts';
import { QmpClient } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Accelerator, PowerStateChange } from '../../apps/compute-agent/src/hypervisor/hypervisor-driver';
import { MigrationListenerFirewall } from '../../apps/compute-agent/src/hypervisor/qemu/migration-listener-firewall';
import { instancePaths } from '../../apps/compute-agent/src/hypervisor/qemu/qemu-argv';
import { killQemu, readPidfile, sleep } from '../../apps/compute-agent/src/hypervisor/qemu/qemu-process';
import { QemuDriver } from '../../apps/compute-agent/src/hypervisor/qemu/qemu.driver';
import { typeOnSerial } from './qemu-guest-fixture';

export interface TestHost {
  name: string;
  stateDir: string;
  driver: QemuDriver;
}

export type Ids = { serverId: string; migrationId: string };

export class MigrationHarness {
  readonly root = mkdtempSync(join(tmpdir(), 'lmig-'));
  readonly a: TestHost;
  readonly b: TestHost;
  readonly events: PowerStateChange[] = [];
  private readonly firewall: MigrationListenerFirewall;
  private readonly serverIds: string[] = [];

  constructor(
    readonly accelerator: Accelerator,
    private readonly table: string,
    ports: { min: number; max: number },
    private readonly qemuBinary?: string,
  ) {
    this.firewall = new MigrationListenerFirewall({ table });
    const half = Math.floor((ports.max - ports.min + 1) / 2);
    this.a = this.host('a', { min: ports.min, max: ports.min + half - 1 });
    this.b = this.host('b', { min: ports.min + half, max: ports.max });
  }

  newSpec(extra: Partial<InstanceSpec> = {}): InstanceSpec {
    const serverId = randomUUID();
    this.serverIds.push(serverId);
    return { serverId, vcpus: 1, ramMb: 256, diskGb: 0, accelerator: this.accelerator, ...extra };
  }

  /** A QMP command on the operator socket (independent of the driver's monitor). */
  async ops<T>(host: TestHost, serverId: string, command: string, args?: Record<string, unknown>): Promise<T> {
    const client = await QmpClient.connect(instancePaths(host.stateDir, serverId).qmpOps);
    try {
      return await client.execute<T>(command, args);
    } finally {
      client.close();
    }
  }

  /** Prepares `to` and starts the migration from `from`; returns the ids. */
  async migrate(spec: InstanceSpec, from: TestHost, to: TestHost, parameters: MigrationParameters, options: { block: boolean }): Promise<Ids> {
    const ids = { serverId: spec.serverId, migrationId: `m-${randomUUID()}` };
    const channels = { multifdChannels: parameters.multifdChannels, postcopyAllowed: parameters.postcopyAllowed };
    const prepared = await to.driver.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: options.block, channels });
    await from.driver.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port, nbd: prepared.nbd }, parameters, deadline: Date.now() + 120_000 });
    return ids;
  }

  /** Polls the source's status until one of `phases`; throws on another end or after `timeoutMs`. */
  async until(source: TestHost, ids: Ids, phases: string[], timeoutMs = 30_000): Promise<MigrationStatusReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await source.driver.liveMigration.status(ids);
      if (phases.includes(status.phase)) return status;
      if (['failed', 'cancelled', 'completed'].includes(status.phase) || Date.now() > deadline) {
        throw new Error(`migration ${ids.migrationId} is ${status.phase}, not ${phases.join('|')}: ${JSON.stringify(status)}`);
      }
      await sleep(50);
    }
  }

  /** finish on the destination, asked again while it has not seen the end of the stream yet. */
  async finish(destination: TestHost, ids: Ids): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        return await destination.driver.liveMigration.finish(ids);
      } catch (error) {
        if (tries > 100 || !/has not completed here/.test((error as Error).message)) throw error;
        await sleep(50);
      }
    }
  }

  /** A whole migration that must succeed: prepare, start, completed, finish, cleanup. */
  async migrateFully(spec: InstanceSpec, from: TestHost, to: TestHost, parameters: MigrationParameters, options: { block: boolean }): Promise<MigrationStatusReply> {
    const ids = await this.migrate(spec, from, to, parameters, options);
    const done = await this.until(from, ids, ['completed'], 120_000);
    await this.finish(to, ids);
    await from.driver.liveMigration.cleanupSource(ids);
    return done;
  }

  /** The guest's console log on `host`. */
  console(host: TestHost, serverId: string): string {
    const path = instancePaths(host.stateDir, serverId).console;
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** Waits for `count` occurrences of `text` in the guest's console on `host`. */
  async waitConsole(host: TestHost, serverId: string, text: string, count = 1, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.console(host, serverId).split(text).length - 1 < count) {
      if (Date.now() > deadline) throw new Error(`"${text}" x${count} not on the console of ${serverId} on ${host.name}`);
      await sleep(250);
    }
  }

  /** Types a line on the guest's serial console on `host`. */
  async type(host: TestHost, serverId: string, line: string): Promise<void> {
    await typeOnSerial(instancePaths(host.stateDir, serverId).serial, `${line}\n`);
  }

  /** SIGKILL of the server's QEMU on `host`. */
  async kill(host: TestHost, serverId: string): Promise<void> {
    await killQemu(readPidfile(instancePaths(host.stateDir, serverId).pidfile)!, serverId);
  }

  async close(): Promise<void> {
    await this.a.driver.close();
    await this.b.driver.close();
    for (const id of this.serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    await this.firewall.removeTable().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }

  private host(name: string, ports: { min: number; max: number }): TestHost {
    const stateDir = join(this.root, name);
    const driver = new QemuDriver({ stateDir, accelerator: this.accelerator, qemuUser: '', qemuBinary: this.qemuBinary, migration: { ports, firewall: { table: this.table } } });
    driver.onPowerStateChange((e) => this.events.push(e));
    return { name, stateDir, driver };
  }
}
