/**
 * Ownership and modes of what QEMU opens when it runs as its own user U (group G, see
 * qemu-user.ts). QEMU opens its files at start and, later, what QMP asks for (a snapshot target,
 * the suspend socket, the resume socket), all as U:
 *
 *   <stateDir>                  searchable by U (o+x added when missing: traverse, not list)
 *   <stateDir>/instances        root:G 0750
 *   instances/<id>              root:G 01770: QEMU creates its sockets, pidfile, console log and
 *                               restore.sock there; the sticky bit stops it from removing or
 *                               replacing the agent's files (spec.json, memory.save)
 *   disk.qcow2, ephemeral.qcow2, console.log, snapshot.qcow2, save.sock
 *                               handed to U:G before QEMU opens (or connects to) them
 *   the base image and its dir  root:G 0640 / 0750: read-only to QEMU
 *   <shared>/instances/<id>     root:G 0750 (shared storage: the disks only, handed over as above;
 *                               <shared> is treated like the state dir)
 *
 * Directories above the state dir are the operator's: one U cannot search fails the start with
 * a message naming it. Without a user, an instance directory is root's own 0700, as before.
 * Root ignores all of these modes, so the agent itself is never locked out.
 */
import { Logger } from '@nestjs/common';
import { chmodSync, chownSync, existsSync, statSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { Accelerator } from '../hypervisor-driver';
import type { InstancePaths } from './qemu-argv';
import { QemuUser, permits, userCanOpenKvm } from './qemu-user';

export class InstanceAccess {
  private readonly logger = new Logger(InstanceAccess.name);
  private warnedKvm = false;

  constructor(
    readonly user: QemuUser | undefined,
    private readonly kvmOpensForUser: (user: QemuUser) => boolean = userCanOpenKvm,
  ) {}

  /**
   * The user this QEMU runs as: none without one, and none for KVM when the user cannot open
   * /dev/kvm (a host without a kvm group): QEMU drops root where the host allows it.
   */
  runAsFor(accelerator: Accelerator, serverId: string): QemuUser | undefined {
    if (!this.user) return undefined;
    if (accelerator === 'kvm' && !this.kvmOpensForUser(this.user)) {
      if (!this.warnedKvm) this.logger.warn(`${this.user.name} cannot open /dev/kvm: KVM guests run as root (first: serverId=${serverId})`);
      this.warnedKvm = true;
      return undefined;
    }
    return this.user;
  }

  /** Creates (or fixes) the instance directory and the path to it. */
  async prepareInstanceDir(paths: InstancePaths): Promise<void> {
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    if (!this.user) return;
    this.reach(dirname(paths.dir), stateDirOf(paths));
    await this.groupDir(dirname(paths.dir), 0o750);
    await this.groupDir(paths.dir, 0o1770);
  }

  /** Shared storage: creates (or fixes) the directory of the instance's disks and the path to it. */
  async prepareSharedDisks(paths: InstancePaths): Promise<void> {
    if (!paths.sharedDisks) return;
    await mkdir(paths.sharedDisks, { recursive: true, mode: 0o700 });
    if (!this.user) return;
    this.reach(dirname(paths.sharedDisks), sharedRootOf(paths.sharedDisks));
    await this.groupDir(dirname(paths.sharedDisks), 0o750);
    await this.groupDir(paths.sharedDisks, 0o750);
  }

  /** Gives files QEMU will open read-write (or connect to) to its user; missing ones are skipped. */
  async handOver(...files: string[]): Promise<void> {
    if (!this.user) return;
    for (const file of files) {
      try {
        await chown(file, this.user.uid, this.user.gid);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  /** Lets QEMU read a cached base image (and reach it); the cache keeps owning it. */
  async shareReadOnly(file: string, paths: InstancePaths): Promise<void> {
    if (!this.user) return;
    const sharedRoot = paths.sharedDisks ? sharedRootOf(paths.sharedDisks) : undefined;
    this.reach(dirname(file), sharedRoot && isWithin(sharedRoot, file) ? sharedRoot : stateDirOf(paths));
    await this.groupDir(dirname(file), 0o750);
    await chown(file, -1, this.user.gid);
    await chmod(file, 0o640);
  }

  /**
   * Every directory from / to `dir` must be searchable by the user. The state dir and those
   * under it are the agent's: fixed. Those above it are the operator's: an error names them.
   */
  private reach(dir: string, stateDir: string): void {
    const user = this.user!;
    const parts = dir.split(sep).filter(Boolean);
    for (let i = 0; i <= parts.length; i++) {
      const path = `/${parts.slice(0, i).join('/')}`;
      if (!existsSync(path)) return;
      const stats = statSync(path);
      if (permits(user, stats, 1)) continue;
      if (!isWithin(stateDir, path)) {
        throw new Error(`QEMU's user ${user.name} cannot reach ${path} (it needs search permission on every directory above the state dir)`);
      }
      if (path === stateDir) chmodSync(path, (stats.mode & 0o7777) | 0o001);
      else {
        chownSync(path, -1, user.gid);
        chmodSync(path, (stats.mode & 0o7777) | 0o010);
      }
    }
  }

  private async groupDir(dir: string, mode: number): Promise<void> {
    await chown(dir, -1, this.user!.gid);
    await chmod(dir, mode);
  }
}

/** Instances live in <stateDir>/instances/<id>. */
function stateDirOf(paths: InstancePaths): string {
  return dirname(dirname(paths.dir));
}

/** Shared disks live in <shared>/instances/<id>. */
function sharedRootOf(sharedDisks: string): string {
  return dirname(dirname(sharedDisks));
}

function isWithin(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep));
}
