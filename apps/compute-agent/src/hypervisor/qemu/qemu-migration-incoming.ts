/**
 * Live migration, destination side: a QEMU started from the source's spec with `-incoming
 * defer`, its disks (local storage) exported over NBD, listening for the source alone; then
 * either finish (it becomes this host's instance of the server) or abort (it goes, with its files
 * and openings). Until finish, the directory carries `incoming-migration.json`: the server is not
 * on this host as far as status, list and adoption go, and no power state is reported for it.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, InstanceSpec, MigrationNbdExport, MigrationPrepareReply, PowerState, ValidationError } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { HypervisorError } from '../hypervisor-driver';
import { validateInstanceSpec } from '../instance-spec';
import { MigrationIds, PrepareIncoming } from '../live-migration-driver';
import { MigrationListenerFirewall } from './migration-listener-firewall';
import { INCOMING_MARKER, isIncomingMigration, readMarker, removeMarker, writeMarker } from './migration-markers';
import { destinationCapabilities, destinationParameters } from './migration-params';
import { qemuVersionOf, safeChannels } from './qemu-migration-quirks';
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
  /** Listener ports of prepares under way. */
  private readonly reserved = new Set<number>();

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
    // The spec says where the disks are: shared storage's are the source's own files, which a
    // block migration would mirror onto themselves.
    if (input.block && input.spec.storage === 'shared') {
      throw new ValidationError('block migration of a server on shared storage would copy its disks onto themselves', 'block');
    }
    const paths = this.instances.paths(id, input.spec);
    if (this.instances.get(id) || (existsSync(paths.dir) && !isIncomingMigration(paths.dir))) {
      throw new ConflictError(`server ${id} already has an instance on this host`, { serverId: id });
    }
    // A destination a previous agent left (it died mid-prepare): nothing of it can be trusted.
    const stale = readMarker(paths.dir, INCOMING_MARKER);
    if (stale) await this.teardown(id, stale.migrationId, undefined);
    // The listener ports are chosen first, so that the firewall opens them (one nft run) while QEMU starts.
    const taken = new Set<number>();
    const [streamPort, nbdPort] = [this.freePort(taken), ...(input.block ? [this.freePort(taken)] : [])];
    const open = (ports: number[]) => this.firewall.open({ migrationId, sourceAddress: input.sourceAddress, ports });
    const opening = open(nbdPort ? [streamPort, nbdPort] : [streamPort]).then(() => undefined, (error: Error) => error);
    let started: Started | undefined;
    try {
      started = await this.instances.whileStarting(id, async () => {
        const qemu = await this.launcher.launch('migration-prepare', input.spec, paths, { fresh: true, incoming: true });
        await writeMarker(paths.dir, INCOMING_MARKER, { migrationId });
        return qemu;
      });
      const { monitor } = started;
      const channels = safeChannels(input.channels, await qemuVersionOf(monitor));
      const params = destinationParameters(channels);
      // Sent without waiting for each answer: QEMU runs them in order, the round trips overlap.
      const setup = Promise.all([
        monitor.execute('migrate-set-capabilities', { capabilities: destinationCapabilities(channels) }),
        ...(Object.keys(params).length ? [monitor.execute('migrate-set-parameters', params)] : []),
      ]);
      setup.catch(() => undefined); // awaited below; a failure meanwhile is not unhandled
      const firewallError = await opening;
      if (firewallError) throw firewallError;
      let nbd: MigrationPrepareReply['nbd'];
      if (nbdPort) {
        const exports = migratableDisks(input.spec);
        const port = await this.bind(nbdPort, taken, open, (p) =>
          monitor.execute('nbd-server-start', { addr: { type: 'inet', data: { host: input.listenAddress, port: String(p) } } }),
        );
        // Writable while QEMU waits for the stream: the source's mirrors write into them.
        await Promise.all(exports.map((e) => monitor.execute('block-export-add', { type: 'nbd', id: e.name, 'node-name': e.node, name: e.name, writable: true })));
        nbd = { port, exports };
      }
      await setup;
      const port = await this.bind(streamPort, taken, open, (p) => monitor.execute('migrate-incoming', { uri: tcpUri(input.listenAddress, p) }));
      const reply: MigrationPrepareReply = { port, ...(nbd ? { nbd } : {}) };
      this.byServer.set(id, { ...started, serverId: id, migrationId, spec: input.spec, reply });
      this.logger.log(`migration ${migrationId}: serverId=${id} awaits its stream on port ${port}${nbd ? `, disks on NBD port ${nbd.port}` : ''} (pid ${started.pid})`);
      return reply;
    } catch (error) {
      await opening; // closed after it was opened, never before
      await this.teardown(id, migrationId, started).catch((e: Error) => this.logger.warn(`migration ${migrationId}: cleanup after a failed prepare: ${e.message}`));
      if (error instanceof HypervisorError || error instanceof ConflictError) throw error;
      throw new HypervisorError('migration-prepare', id, (error as Error).message);
    } finally {
      for (const port of taken) this.reserved.delete(port);
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

  /** A port of the range that no destination here listens on or is about to (reserved until its prepare ends). */
  private freePort(taken: Set<number>): number {
    const used = new Set(this.reserved);
    for (const other of this.byServer.values()) {
      used.add(other.reply.port);
      if (other.reply.nbd) used.add(other.reply.nbd.port);
    }
    const free: number[] = [];
    for (let port = this.ports.min; port <= this.ports.max; port++) if (!used.has(port)) free.push(port);
    if (!free.length) throw new Error(`no free listener port in ${this.ports.min}-${this.ports.max}`);
    const port = free[Math.floor(Math.random() * free.length)];
    this.reserved.add(port);
    taken.add(port);
    return port;
  }

  /** Runs `listen` on `port`; when QEMU finds it busy (another program), on another one, opened first. */
  private async bind(port: number, taken: Set<number>, open: (ports: number[]) => Promise<void>, listen: (port: number) => Promise<unknown>): Promise<number> {
    for (let tries = 1; ; tries++) {
      try {
        await listen(port);
        return port;
      } catch (error) {
        if (!/in use/i.test((error as Error).message) || tries >= PORT_TRIES) throw error;
        port = this.freePort(taken);
        await open([port]);
      }
    }
  }
}

function readSpecFile(path: string): InstanceSpec | undefined {
  try {
    return validateInstanceSpec(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}
