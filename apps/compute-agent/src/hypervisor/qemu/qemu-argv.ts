/**
 * Builds QEMU's argv from a typed spec. Pure: no I/O, no environment, same input -> same argv
 * (checked by a golden file). No user text reaches the argv: the guest name is derived from the
 * server id, and paths are escaped where QEMU parses them as option syntax.
 */
import { InstanceSpec } from '@nubo/contracts';
import { join } from 'node:path';
import { Accelerator } from '../hypervisor-driver';
import { assertServerId, validateInstanceSpec } from '../instance-spec';

/** Files of one instance, all inside its directory. */
export interface InstancePaths {
  dir: string;
  spec: string;
  /** The agent's QMP monitor. */
  qmp: string;
  /** A second monitor for operators and tests (like `virsh qemu-monitor-command`). */
  qmpOps: string;
  console: string;
  pidfile: string;
  stderr: string;
  /** The server's root disk: a qcow2 overlay on a cached base image. */
  disk: string;
  /** Guest RAM of a suspended instance (QEMU's migration stream), and its name while written. */
  memorySave: string;
  memorySaveTmp: string;
  /** Where the agent receives the migration stream on suspend (QEMU connects to it). */
  saveSock: string;
  /** Where QEMU listens for the saved stream on resume (the agent connects to it). */
  restoreSock: string;
  /** A snapshot of the disk while it is made and uploaded (one at a time per instance). */
  snapshot: string;
}

/** The base image under a server's disk, as the cache holds it. */
export interface BaseImage {
  path: string;
  format: 'raw' | 'qcow2' | 'iso';
}

export interface QemuArgvOptions {
  spec: InstanceSpec;
  paths: InstancePaths;
  accelerator: Accelerator;
  /** Required when the spec has an image: the cached file under the disk (or the CD-ROM). */
  image?: BaseImage;
  /** Starts QEMU waiting for a migration stream (resume); its vCPUs stay stopped until `cont`. */
  incoming?: boolean;
}

/**
 * Block node names. Fixed strings: nothing from a client names a node. The whole chain is given
 * explicitly (base read-only, `backing: null` under it) so QEMU never follows a backing file name
 * written in an image header.
 */
export const NODE = {
  baseFile: 'nubo-base-file',
  base: 'nubo-base',
  diskFile: 'nubo-disk-file',
  disk: 'nubo-disk',
  cdromFile: 'nubo-cdrom-file',
  cdrom: 'nubo-cdrom',
  /** The target of a snapshot's blockdev-backup, added and removed at run time. */
  snapshot: 'nubo-snapshot',
} as const;

/** A named, migratable CPU model: `-cpu host` fails on nested KVM and blocks migration. */
export const CPU_MODEL = 'qemu64';

/**
 * The seccomp sandbox libvirt uses. It denies fork and setsid, which is why QEMU runs without
 * `-daemonize` and the agent detaches it itself (see qemu-process.ts).
 */
export const SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

export function instancePaths(stateDir: string, serverId: string): InstancePaths {
  const dir = join(stateDir, 'instances', assertServerId(serverId));
  return {
    dir,
    spec: join(dir, 'spec.json'),
    qmp: join(dir, 'qmp.sock'),
    qmpOps: join(dir, 'qmp-ops.sock'),
    console: join(dir, 'console.log'),
    pidfile: join(dir, 'qemu.pid'),
    stderr: join(dir, 'qemu-stderr.log'),
    disk: join(dir, 'disk.qcow2'),
    memorySave: join(dir, 'memory.save'),
    memorySaveTmp: join(dir, 'memory.save.tmp'),
    saveSock: join(dir, 'save.sock'),
    restoreSock: join(dir, 'restore.sock'),
    snapshot: join(dir, 'snapshot.qcow2'),
  };
}

/** Longest state dir whose instance sockets still fit in a UNIX socket address. */
export function maxStateDirLength(): number {
  const probe = instancePaths('/', '00000000-0000-0000-0000-000000000000');
  return MAX_UNIX_SOCKET_PATH - Buffer.byteLength(probe.qmpOps);
}

/** QEMU splits option values on commas; a literal comma is written twice. */
export function escapeOptionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

export function buildQemuArgv(options: QemuArgvOptions): string[] {
  const spec = validateInstanceSpec(options.spec);
  const { paths, accelerator } = options;
  for (const path of [paths.qmp, paths.qmpOps, paths.console, paths.pidfile, paths.disk]) assertSafePath(path);
  for (const socket of [paths.qmp, paths.qmpOps, paths.saveSock, paths.restoreSock]) {
    if (Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH) {
      throw new Error(`UNIX socket path too long (${Buffer.byteLength(socket)} > ${MAX_UNIX_SOCKET_PATH} bytes): ${socket}`);
    }
  }
  if (accelerator !== 'kvm' && accelerator !== 'tcg') throw new Error(`unknown accelerator ${String(accelerator)}`);
  return [
    '-no-user-config',
    '-nodefaults',
    '-name', `guest=nubo-${spec.serverId}`,
    '-uuid', spec.serverId,
    '-machine', 'q35',
    '-accel', accelerator,
    '-cpu', CPU_MODEL,
    '-smp', String(spec.vcpus),
    '-m', `${spec.ramMb}M`,
    '-display', 'none',
    ...qmpMonitor('qmp', paths.qmp),
    ...qmpMonitor('qmp-ops', paths.qmpOps),
    '-chardev', `file,id=serial0,path=${escapeOptionValue(paths.console)}`,
    '-serial', 'chardev:serial0',
    ...storage(spec, paths, options.image),
    // -pidfile takes a plain file name, not option syntax: no escaping.
    '-pidfile', paths.pidfile,
    '-sandbox', SANDBOX,
    ...(options.incoming ? ['-incoming', 'defer'] : []),
  ];
}

/**
 * The root disk (overlay -> base) on virtio-blk, or an ISO as a read-only CD-ROM on the q35's
 * built-in AHCI. -blockdev takes JSON, so paths are JSON strings: no comma escaping to get wrong.
 */
function storage(spec: InstanceSpec, paths: InstancePaths, image: BaseImage | undefined): string[] {
  if (!spec.image) return [];
  if (!image || image.format !== spec.image.diskFormat) throw new Error('the cached image of spec.image is required');
  assertSafePath(image.path);
  const blockdev = (node: Record<string, unknown>) => ['-blockdev', JSON.stringify(node)];
  if (image.format === 'iso') {
    return [
      ...blockdev({ driver: 'file', filename: image.path, 'node-name': NODE.cdromFile, 'read-only': true }),
      ...blockdev({ driver: 'raw', file: NODE.cdromFile, 'node-name': NODE.cdrom, 'read-only': true }),
      '-device', `ide-cd,drive=${NODE.cdrom},bus=ide.0,id=cdrom0,bootindex=1`,
    ];
  }
  return [
    ...blockdev({ driver: 'file', filename: image.path, 'node-name': NODE.baseFile, 'read-only': true }),
    ...blockdev({
      driver: image.format,
      file: NODE.baseFile,
      'node-name': NODE.base,
      'read-only': true,
      ...(image.format === 'qcow2' ? { backing: null } : {}),
    }),
    ...blockdev({ driver: 'file', filename: paths.disk, 'node-name': NODE.diskFile }),
    ...blockdev({ driver: 'qcow2', file: NODE.diskFile, backing: NODE.base, 'node-name': NODE.disk }),
    '-device', `virtio-blk-pci,drive=${NODE.disk},id=disk0,bootindex=1`,
  ];
}

function qmpMonitor(id: string, path: string): string[] {
  return [
    '-chardev', `socket,id=${id},path=${escapeOptionValue(path)},server=on,wait=off`,
    '-mon', `chardev=${id},mode=control`,
  ];
}

/** Control characters would survive escaping and make QEMU's error messages and logs lie. */
function assertSafePath(path: string): void {
  if (!path.startsWith('/')) throw new Error(`path must be absolute: ${path}`);
  if (/[\u0000-\u001f\u007f]/.test(path)) throw new Error('path contains control characters');
}
