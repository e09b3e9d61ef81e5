/**
 * Cold migration, destination side. prepare makes the instance directory with empty target disks
 * of the source's sizes (the root disk an overlay on this host's copy of the same base image)
 * and a qemu-nbd per disk, listening for the source alone; finish closes the exports and makes
 * the directory this host's instance of the server (booted when asked); abort removes it all.
 *
 * Until finish the directory carries `incoming-migration.json` (as a live migration's does): the
 * server is not on this host for status, list and adoption, and a restarted agent leaves it to
 * the abort or the finish. `cold-migration.json` holds the exports; each qemu-nbd writes its own
 * pidfile (`nbd-<disk>.pid`), so a restarted agent finds and stops them.
 */
import { Logger } from '@nestjs/common';
import { ColdDisk, ColdExport, ColdPrepareReply, ConflictError, InstanceStatus, ValidationError } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ColdFinishInput, ColdPrepareInput } from '../cold-migration-driver';
import { HypervisorError } from '../hypervisor-driver';
import { MigrationIds } from '../live-migration-driver';
import { writeDurably } from './durable-files';
import { ImageLease } from './image-cache';
import { MigrationListenerFirewall } from './migration-listener-firewall';
import { INCOMING_MARKER, readMarker, removeMarker, writeMarker } from './migration-markers';
import { InstancePaths } from './qemu-argv';
import { BaseRef, newExportName, nbdServerArgs } from './qemu-disk-transfer';
import { finishTool, livePid, startTool, stopTool, toolCommand } from './qemu-disk-transfer-process';
import { hostStopExit, writeLastExit } from './qemu-exit';
import { createBlankQcow2, createOverlay } from './qemu-img';
import { QemuInstances } from './qemu-instances';
import { QemuLauncher } from './qemu-launcher';
import { QemuPower } from './qemu-power';

export interface ColdPortRange {
  min: number;
  max: number;
}

/** Above the live migrations' range (49152-49407): the two never take each other's ports. */
export const DEFAULT_COLD_MIGRATION_PORTS: ColdPortRange = { min: 49408, max: 49663 };

export const COLD_STATE_FILE = 'cold-migration.json';
const PORT_TRIES = 20;
const NBD_START_TIMEOUT_MS = 30_000;

interface ColdState {
  migrationId: string;
  exports: ColdExport[];
}

export interface ColdIncomingOptions {
  netns?: string;
  ports?: ColdPortRange;
  qemuNbdBinary?: string;
}

const pidfileOf = (paths: InstancePaths, disk: string) => join(paths.dir, `nbd-${disk}.pid`);
const targetOf = (paths: InstancePaths, disk: ColdDisk['name']) => (disk === 'disk' ? paths.disk : paths.ephemeral);

export class QemuColdMigrationIncoming {
  private readonly logger = new Logger(QemuColdMigrationIncoming.name);
  /** Ports this agent handed out, and to which server (a busy port is also found by qemu-nbd failing to bind). */
  private readonly taken = new Map<number, string>();

  constructor(
    private readonly instances: QemuInstances,
    private readonly launcher: QemuLauncher,
    private readonly power: QemuPower,
    private readonly firewall: MigrationListenerFirewall,
    private readonly options: ColdIncomingOptions = {},
  ) {}

  async prepare(input: ColdPrepareInput): Promise<ColdPrepareReply> {
    const { serverId: id, migrationId } = input;
    const paths = this.instances.paths(id);
    const marker = readMarker(paths.dir, INCOMING_MARKER);
    if (this.instances.get(id) || (existsSync(paths.dir) && !marker)) {
      throw new ConflictError(`server ${id} already has an instance on this host`, { serverId: id });
    }
    if (marker?.migrationId === migrationId) {
      const state = readState(paths);
      // A repeated prepare: the same exports while every qemu-nbd still runs, else all made afresh.
      if (state && state.exports.length === input.disks.length && state.exports.every((e) => livePid(pidfileOf(paths, e.disk), id))) return { exports: state.exports };
    }
    // A destination an earlier prepare or another migration left: nothing of it can be trusted.
    if (marker) await this.teardown(id, paths, marker.migrationId);
    checkDisks(input);
    let lease: ImageLease | undefined;
    try {
      const needsBase = input.disks.some((d) => d.name === 'disk');
      lease = needsBase && input.spec.image ? await this.launcher.images.lease(input.spec.image) : undefined;
      await this.launcher.access.prepareInstanceDir(paths);
      await writeMarker(paths.dir, INCOMING_MARKER, { migrationId });
      const base: BaseRef | undefined = lease ? { path: lease.path, format: lease.format === 'qcow2' ? 'qcow2' : 'raw' } : undefined;
      for (const disk of input.disks) await this.makeTarget(paths, disk, base);
      if (lease) await this.launcher.access.shareReadOnly(lease.path, paths);
      await this.launcher.access.handOver(...input.disks.map((d) => targetOf(paths, d.name)));
      // Not named `exports`: CommonJS output would take it for the module's own.
      const served: ColdExport[] = [];
      for (const disk of input.disks) served.push(await this.serve(id, migrationId, paths, disk.name, base, input));
      await writeDurably(join(paths.dir, COLD_STATE_FILE), `${JSON.stringify({ migrationId, exports: served } satisfies ColdState)}\n`);
      this.logger.log(`cold migration ${migrationId}: serverId=${id} awaits its disks on ${served.map((e) => `${e.disk}:${e.port}`).join(', ') || 'nothing (no disk to copy)'}`);
      return { exports: served };
    } catch (error) {
      await this.teardown(id, paths, migrationId).catch((e: Error) => this.logger.warn(`cold migration ${migrationId}: cleanup after a failed prepare: ${e.message}`));
      if (error instanceof HypervisorError || error instanceof ConflictError || error instanceof ValidationError) throw error;
      throw new HypervisorError('cold-migration-prepare', id, (error as Error).message);
    } finally {
      lease?.release();
    }
  }

  /** The exports close; the directory becomes the server's instance here, booted when `powerOn`. Idempotent. */
  async finish(input: ColdFinishInput): Promise<InstanceStatus> {
    const { serverId: id, migrationId } = input;
    const paths = this.instances.paths(id);
    const marker = readMarker(paths.dir, INCOMING_MARKER);
    if (marker && marker.migrationId !== migrationId) {
      throw new ConflictError(`server ${id} is being migrated to this host by migration ${marker.migrationId}`, { serverId: id, migrationId: marker.migrationId });
    }
    if (marker) {
      await this.stopExports(id, paths);
      await this.firewall.close(migrationId);
      await writeDurably(paths.spec, `${JSON.stringify(input.spec, null, 2)}\n`);
      // Why it is not running, should it stay off (a start clears it).
      writeLastExit(paths.dir, hostStopExit('cold migration: powered off on its source'));
      await rm(join(paths.dir, COLD_STATE_FILE), { force: true });
      await removeMarker(paths.dir, INCOMING_MARKER);
      this.logger.log(`cold migration ${migrationId}: serverId=${id} is this host's instance now`);
    } else if (!this.instances.get(id) && !existsSync(paths.dir)) {
      throw new ConflictError(`no cold migration ${migrationId} of server ${id} on this host`, { serverId: id, migrationId });
    }
    const instance = await this.instances.find(id);
    if (!instance) throw new ConflictError(`no cold migration ${migrationId} of server ${id} on this host`, { serverId: id, migrationId });
    if (input.powerOn) return this.power.start(instance, input.spec);
    return this.instances.probe(instance);
  }

  /** Removes the migration's exports, openings and (before finish) its directory. Idempotent. */
  async abort({ serverId: id, migrationId }: MigrationIds): Promise<boolean> {
    const paths = this.instances.paths(id);
    const marker = readMarker(paths.dir, INCOMING_MARKER);
    if (marker && marker.migrationId !== migrationId) {
      await this.firewall.close(migrationId);
      return false;
    }
    if (!marker) {
      // Finished (the instance is the server's now) or never prepared: only the openings may be left.
      if (readState(paths)?.migrationId === migrationId) await this.stopExports(id, paths);
      await this.firewall.close(migrationId);
      return false;
    }
    await this.teardown(id, paths, migrationId);
    this.logger.log(`cold migration ${migrationId}: destination of serverId=${id} aborted`);
    return true;
  }

  private async makeTarget(paths: InstancePaths, disk: ColdDisk, base: BaseRef | undefined): Promise<void> {
    const target = targetOf(paths, disk.name);
    const tmp = `${target}.tmp`;
    await rm(tmp, { force: true });
    if (disk.name === 'disk') await createOverlay({ base: base!.path, baseFormat: base!.format, overlay: tmp, sizeBytes: disk.virtualSize });
    else await createBlankQcow2(tmp, disk.virtualSize);
    await rename(tmp, target);
  }

  /** One qemu-nbd for `disk`, on a free port of the range opened to the source alone. */
  private async serve(id: string, migrationId: string, paths: InstancePaths, disk: ColdDisk['name'], base: BaseRef | undefined, input: ColdPrepareInput): Promise<ColdExport> {
    const range = this.options.ports ?? DEFAULT_COLD_MIGRATION_PORTS;
    const name = newExportName(disk);
    const pidfile = pidfileOf(paths, disk);
    const log = join(paths.dir, `nbd-${disk}.log`);
    let last: Error | undefined;
    for (let i = 0; i < PORT_TRIES; i++) {
      const port = range.min + Math.floor(Math.random() * (range.max - range.min + 1));
      if (this.taken.has(port)) continue;
      try {
        await this.firewall.open({ migrationId, sourceAddress: input.sourceAddress, ports: [port] });
      } catch (error) {
        // The port is mapped to another migration's opening (one a crashed agent left): try another.
        last = error as Error;
        continue;
      }
      await rm(pidfile, { force: true });
      const args = nbdServerArgs({ target: targetOf(paths, disk), base: disk === 'disk' ? base : undefined, address: input.listenAddress, port, exportName: name, pidfile });
      const command = toolCommand(this.options.qemuNbdBinary ?? 'qemu-nbd', args, { netns: this.options.netns, user: this.launcher.access.user });
      try {
        // --fork: the parent exits once the server listens (or failed to).
        await finishTool('cold-migration-nbd', id, await startTool(command, log), log, Date.now() + NBD_START_TIMEOUT_MS);
        if (!livePid(pidfile, id)) throw new HypervisorError('cold-migration-nbd', id, 'qemu-nbd wrote no pidfile');
        this.taken.set(port, id);
        return { disk, port, name };
      } catch (error) {
        last = error as Error;
        if (!/in use|available port/i.test(last.message)) throw error;
      }
    }
    throw new HypervisorError('cold-migration-nbd', id, `no free port in ${range.min}-${range.max}: ${last?.message ?? 'all taken'}`);
  }

  private async stopExports(id: string, paths: InstancePaths): Promise<void> {
    for (const disk of ['disk', 'ephemeral'] as const) {
      const pid = livePid(pidfileOf(paths, disk), id);
      if (!(await stopTool(pid, id))) throw new HypervisorError('cold-migration-nbd', id, `qemu-nbd pid ${pid} survived SIGKILL`);
      await rm(pidfileOf(paths, disk), { force: true });
    }
    for (const [port, server] of this.taken) if (server === id) this.taken.delete(port);
  }

  /** Stops the exports, closes the openings and removes the directory (never a tracked instance's). */
  private async teardown(id: string, paths: InstancePaths, migrationId: string): Promise<void> {
    await this.stopExports(id, paths);
    await this.firewall.close(migrationId);
    if (!this.instances.get(id)) await rm(paths.dir, { recursive: true, force: true });
  }
}

function readState(paths: InstancePaths): ColdState | undefined {
  try {
    const state = JSON.parse(readFileSync(join(paths.dir, COLD_STATE_FILE), 'utf8')) as ColdState;
    return typeof state.migrationId === 'string' && Array.isArray(state.exports) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** The disks must be ones the spec has: a root disk needs a (non-ISO) image, an ephemeral disk the flavor's. */
function checkDisks(input: ColdPrepareInput): void {
  for (const disk of input.disks) {
    if (disk.name === 'disk') {
      if (!input.spec.image || input.spec.image.diskFormat === 'iso') throw new ValidationError('a root disk needs an image that is not an ISO', 'disks');
      if (input.baseSha256 !== undefined && input.baseSha256 !== input.spec.image.sha256) {
        throw new ConflictError(`the source's root disk is built on image content ${input.baseSha256}, the spec names ${input.spec.image.sha256}`);
      }
    }
    if (disk.name === 'ephemeral' && !input.spec.ephemeralGb) throw new ValidationError('an ephemeral disk needs spec.ephemeralGb', 'disks');
  }
}
