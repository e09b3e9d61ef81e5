/**
 * Live migration, destination side: a QEMU started from the source's spec with `-incoming
 * defer`, its disks (local storage) exported over NBD, listening for the source alone; then
 * either finish (it becomes this host's instance of the server) or abort (it goes, with its files
 * and openings). Until finish, the directory carries `incoming-migration.json`: the server is not
 * on this host as far as status, list and adoption go, and no power state is reported for it.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, InstanceSpec, MigrationNbdExport, MigrationPrepareReply, PowerState } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { HypervisorError } from '../hypervisor-driver';
import { validateInstanceSpec } from '../instance-spec';
import { MigrationIds, PrepareIncoming } from '../live-migration-driver';
import { MigrationListenerFirewall } from './migration-listener-firewall';
import { INCOMING_MARKER, isIncomingMigration, readMarker, removeMarker, writeMarker } from './migration-markers';
import { destinationCapabilities, destinationParameters } from './migration-params';
import { NODE } from './qemu-argv';
import { QemuInstances } from './qemu-instances';
import { QemuLauncher, Started } from './qemu-launcher';
import { QemuMonitor } from './qemu-monitor';
import { isAlive, killQemu, readPidfile } from './qemu-process';

export interface MigrationPortRange {
  min: number;
  max: number;
}

export const DEFAULT_MIGRATION_PORTS: MigrationPortRange = { min: 49152, max: 49407 };

/** Tries of a listener port before giving up (each one busy). */
const PORT_TRIES = 20;

interface Incoming extends Started {
  serverId: string;
  migrationId: string;
  spec: InstanceSpec;
  reply: MigrationPrepareReply;
}

/** The disks a block migration copies: the writable nodes of the guest's disks (the CD-ROM stays). */
export function migratableDisks(spec: InstanceSpec): MigrationNbdExport[] {
  const nodes: string[] = [];
  if (spec.image && spec.image.diskFormat !== 'iso') nodes.push(NODE.disk);
  if (spec.ephemeralGb) nodes.push(NODE.ephemeral);
  return nodes.map((node) => ({ node, name: node }));
}

/** A TCP migration URI (IPv6 in brackets). */
export function tcpUri(address: string, port: number): string {
  return `tcp:${isIPv6(address) ? `[${address}]` : address}:${port}`;
}

export class QemuMigrationIncoming {
  private readonly logger = new Logger(QemuMigrationIncoming.name);
  private readonly byServer = new Map<string, Incoming>();

  constructor(
    private readonly instances: QemuInstances,
    private readonly launcher: QemuLauncher,
    private readonly firewall: MigrationListenerFirewall,
    private readonly ports: MigrationPortRange = DEFAULT_MIGRATION_PORTS,
  ) {}

  async prepare(input: PrepareIncoming): Promise<MigrationPrepareReply> {
    const { serverId: id, migrationId } = input;
    const known = this.byServer.get(id);
    if (known && known.migrationId !== migrationId) {
      throw new ConflictError(`server ${id} is being migrated to this host by migration ${known.migrationId}`, { serverId: id, migrationId: known.migrationId });
    }
    if (known && isAlive(known.pid, id)) return known.reply;
    if (known) await this.teardown(id, migrationId, known);
    const paths = this.instances.paths(id);
    if (this.instances.get(id) || (existsSync(paths.dir) && !isIncomingMigration(paths.dir))) {
      throw new ConflictError(`server ${id} already has an instance on this host`, { serverId: id });
    }
    // A destination a previous agent left (it died mid-prepare): nothing of it can be trusted.
    const stale = readMarker(paths.dir, INCOMING_MARKER);
    if (stale) await this.teardown(id, stale.migrationId, undefined);
    let started: Started | undefined;
    try {
      started = await this.instances.whileStarting(id, async () => {
        const qemu = await this.launcher.launch('migration-prepare', input.spec, paths, { fresh: true, incoming: true });
        await writeMarker(paths.dir, INCOMING_MARKER, { migrationId });
        return qemu;
      });
      const { monitor } = started;
      await monitor.execute('migrate-set-capabilities', { capabilities: destinationCapabilities(input.channels) });
      const params = destinationParameters(input.channels);
      if (Object.keys(params).length) await monitor.execute('migrate-set-parameters', params);
      const taken = new Set<number>();
      const open = async (port: number) => this.firewall.open({ migrationId, sourceAddress: input.sourceAddress, ports: [port] });
      let nbd: MigrationPrepareReply['nbd'];
      if (input.block) {
        const exports = migratableDisks(input.spec);
        const port = await this.listen(taken, async (p) => {
          await open(p);
          await monitor.execute('nbd-server-start', { addr: { type: 'inet', data: { host: input.listenAddress, port: String(p) } } });
        });
        // Writable while QEMU waits for the stream: the source's mirrors write into them.
        for (const e of exports) await monitor.execute('block-export-add', { type: 'nbd', id: e.name, 'node-name': e.node, name: e.name, writable: true });
        nbd = { port, exports };
      }
      const port = await this.listen(taken, async (p) => {
        await open(p);
        await monitor.execute('migrate-incoming', { uri: tcpUri(input.listenAddress, p) });
      });
      const reply: MigrationPrepareReply = { port, ...(nbd ? { nbd } : {}) };
      this.byServer.set(id, { ...started, serverId: id, migrationId, spec: input.spec, reply });
      this.logger.log(`migration ${migrationId}: serverId=${id} awaits its stream on port ${port}${nbd ? `, disks on NBD port ${nbd.port}` : ''} (pid ${started.pid})`);
      return reply;
    } catch (error) {
      await this.teardown(id, migrationId, started).catch((e: Error) => this.logger.warn(`migration ${migrationId}: cleanup after a failed prepare: ${e.message}`));
      if (error instanceof HypervisorError || error instanceof ConflictError) throw error;
      throw new HypervisorError('migration-prepare', id, (error as Error).message);
    }
  }

  /** The destination becomes the server's instance on this host. Idempotent. */
  async finish({ serverId: id, migrationId }: MigrationIds): Promise<void> {
    let incoming = this.byServer.get(id);
    if (!incoming || incoming.migrationId !== migrationId) {
      const tracked = this.instances.get(id);
      if (tracked && isAlive(tracked.pid, id) && !isIncomingMigration(tracked.paths.dir)) return; // finished already
      incoming = incoming ? undefined : await this.leftBehind(id, migrationId);
      if (!incoming) throw new ConflictError(`no incoming migration ${migrationId} of server ${id} on this host`, { serverId: id, migrationId });
    }
    const { monitor } = incoming;
    const info = await monitor.execute<{ status?: string }>('query-migrate');
    const status = await monitor.queryStatus();
    if (info.status !== 'completed' || status.status === 'inmigrate') {
      throw new ConflictError(`migration ${migrationId} of server ${id} has not completed here (${info.status ?? 'none'}, ${status.status})`, { serverId: id, migrationId });
    }
    if (incoming.reply.nbd || incoming.reply.port === 0) await monitor.execute('nbd-server-stop').catch((e: Error) => this.logger.warn(`nbd-server-stop: ${e.message}`));
    // Tell the network where the guest's MACs are now (RARP/GARP).
    await monitor.execute('announce-self', { initial: 50, max: 550, rounds: 5, step: 100 });
    await this.firewall.close(migrationId);
    const paths = this.instances.paths(id);
    await removeMarker(paths.dir, INCOMING_MARKER);
    const tracked = this.instances.track(incoming.spec, incoming.pid, monitor, status.status, incoming.exitStatus);
    this.byServer.delete(id);
    this.instances.setPowerState(tracked, status.status === 'running' ? PowerState.Running : PowerState.Paused, 'live-migration', { force: true });
    this.logger.log(`migration ${migrationId}: serverId=${id} runs on this host now (pid ${incoming.pid})`);
  }

  /**
   * The destination QEMU of `migrationId` that a previous agent started (its marker, its pidfile),
   * with a new monitor: a restart after the switch-over must not strand the guest. Port 0 in the
   * reply: what it listened on is unknown (and no longer needed).
   */
  private async leftBehind(id: string, migrationId: string): Promise<Incoming | undefined> {
    const paths = this.instances.paths(id);
    if (readMarker(paths.dir, INCOMING_MARKER)?.migrationId !== migrationId) return undefined;
    const pid = readPidfile(paths.pidfile);
    const spec = readSpecFile(paths.spec);
    if (pid === undefined || !isAlive(pid, id) || !spec) return undefined;
    const monitor = await QemuMonitor.connect(paths.qmp, id, { timeoutMs: 5_000, exited: () => (isAlive(pid, id) ? undefined : { code: null, signal: null }) });
    const left: Incoming = { pid, monitor, qmpStatus: 'inmigrate', serverId: id, migrationId, spec, reply: { port: 0 } };
    if (this.byServer.has(id)) {
      monitor.close();
      return undefined;
    }
    this.byServer.set(id, left);
    this.logger.log(`migration ${migrationId}: serverId=${id} destination taken over from a previous agent (pid ${pid})`);
    return left;
  }

  /** Ends a destination that will not run the server. Idempotent; never touches a finished one. */
  async abort({ serverId: id, migrationId }: MigrationIds): Promise<boolean> {
    const incoming = this.byServer.get(id);
    if (incoming && incoming.migrationId !== migrationId) {
      throw new ConflictError(`server ${id} is being migrated here by migration ${incoming.migrationId}`, { serverId: id, migrationId: incoming.migrationId });
    }
    const paths = this.instances.paths(id);
    const marker = readMarker(paths.dir, INCOMING_MARKER);
    if (!incoming && marker?.migrationId !== migrationId) {
      // Finished (or never prepared): only the openings may be left.
      await this.firewall.close(migrationId);
      return false;
    }
    if (incoming?.monitor.isConnected) {
      const info = await incoming.monitor.execute<{ status?: string }>('query-migrate').catch(() => ({ status: undefined }));
      if (info.status?.startsWith('postcopy')) {
        throw new ConflictError(`migration ${migrationId} of server ${id} is in post-copy: its destination cannot be aborted`, { serverId: id, migrationId });
      }
    }
    await this.teardown(id, migrationId, incoming);
    this.logger.log(`migration ${migrationId}: destination of serverId=${id} aborted`);
    return true;
  }

  /** Lets go of every destination's monitor (the agent stops; a later one takes them over by marker). */
  close(): void {
    for (const incoming of this.byServer.values()) incoming.monitor.close();
    this.byServer.clear();
  }

  /** Kills the destination QEMU, removes its directory and the migration's openings. */
  private async teardown(id: string, migrationId: string, qemu: Started | undefined): Promise<void> {
    const paths = this.instances.paths(id);
    qemu?.monitor.close();
    const pid = qemu?.pid ?? readPidfile(paths.pidfile);
    if (isAlive(pid, id) && !(await killQemu(pid, id))) throw new HypervisorError('migration-abort', id, `QEMU pid ${pid} survived SIGKILL`);
    if (this.byServer.get(id)?.migrationId === migrationId) this.byServer.delete(id);
    if (!this.instances.get(id)) await rm(paths.dir, { recursive: true, force: true });
    await this.firewall.close(migrationId);
  }

  /** Runs `bind` on a free port of the range; retried on another port when QEMU finds it busy. */
  private async listen(taken: Set<number>, bind: (port: number) => Promise<void>): Promise<number> {
    for (const other of this.byServer.values()) {
      taken.add(other.reply.port);
      if (other.reply.nbd) taken.add(other.reply.nbd.port);
    }
    let last: Error | undefined;
    for (let i = 0; i < PORT_TRIES; i++) {
      const port = this.ports.min + Math.floor(Math.random() * (this.ports.max - this.ports.min + 1));
      if (taken.has(port)) continue;
      taken.add(port);
      try {
        await bind(port);
        return port;
      } catch (error) {
        last = error as Error;
        if (!/in use/i.test(last.message)) throw error;
      }
    }
    throw new Error(`no free listener port in ${this.ports.min}-${this.ports.max}: ${last?.message ?? 'all taken'}`);
  }
}

function readSpecFile(path: string): InstanceSpec | undefined {
  try {
    return validateInstanceSpec(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}
