/**
 * Builds QEMU's argv from a typed spec. Pure: no I/O, no environment, same input -> same argv
 * (checked by golden files). QEMU's process is named after the server id (`-name guest=nubo-<id>`,
 * which tests and adoption look for); the display name and metadata reach QEMU only as SMBIOS
 * strings with commas doubled (qemu-smbios.ts). Paths are escaped the same way where QEMU parses
 * option syntax, or written as JSON (-blockdev); MACs and tap names are validated to need nothing.
 *
 * Devices: q35, virtio disk(s), the serial console on a UNIX socket that QEMU also logs to a
 * file, VNC on a UNIX socket only (never TCP; the directory's mode is its access control), a VGA
 * for VNC to show, pvpanic with `-action panic=shutdown` (a panicking guest ends with SHUTDOWN
 * reason guest-panic), and a balloon `balloon0` that deflates when the guest runs out of memory.
 */
import { InstanceSpec } from '@nubo/contracts';
import { join } from 'node:path';
import { Accelerator } from '../hypervisor-driver';
import { assertServerId, validateInstanceSpec } from '../instance-spec';
import { DEFAULT_SPARE_ROOT_PORTS, nicArgs, spareRootPortArgs } from './qemu-nic-argv';
import { assertSafePath, escapeOptionValue } from './qemu-option-syntax';
import { tcgRamArgument } from './qemu-migration-quirks';
import { smbiosArgs } from './qemu-smbios';
import { BaseImage, firstNicBootIndex, storageArgs } from './qemu-storage-argv';

export { escapeOptionValue } from './qemu-option-syntax';
export { NODE } from './qemu-storage-argv';
export type { BaseImage } from './qemu-storage-argv';

/** Files of one instance, all inside its directory. */
export interface InstancePaths {
  dir: string;
  spec: string;
  /** The agent's QMP monitor. */
  qmp: string;
  /** A second monitor for operators and tests (like `virsh qemu-monitor-command`). */
  qmpOps: string;
  /** The serial console's log file (QEMU appends to it across starts). */
  console: string;
  /** The serial console itself: a UNIX socket QEMU listens on (a client types into the guest). */
  serial: string;
  /** The VNC server: a UNIX socket only, so the directory's mode decides who may connect. */
  vnc: string;
  pidfile: string;
  stderr: string;
  /** The server's root disk: a qcow2 overlay on a cached base image. */
  disk: string;
  /**
   * Shared storage only: the directory on shared storage that holds the disks (another host
   * opens the same files). Removing the instance directory never touches it.
   */
  sharedDisks?: string;
  /** The flavor's ephemeral disk: a standalone qcow2 made on first start, kept until destroy. */
  ephemeral: string;
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

export interface QemuArgvOptions {
  spec: InstanceSpec;
  paths: InstancePaths;
  accelerator: Accelerator;
  /** Required when the spec has an image: the cached file under the disk (or the CD-ROM). */
  image?: BaseImage;
  /** Starts QEMU waiting for a migration stream (resume); its vCPUs stay stopped until `cont`. */
  incoming?: boolean;
  /** Empty PCIe root ports for hot-plugged NICs (default DEFAULT_SPARE_ROOT_PORTS). */
  spareRootPorts?: number;
}

/** A named, migratable CPU model: `-cpu host` fails on nested KVM and blocks migration. */
export const CPU_MODEL = 'qemu64';

/**
 * The seccomp sandbox libvirt uses. It denies fork and setsid, which is why QEMU runs without
 * `-daemonize` and the agent detaches it itself (see qemu-process.ts).
 */
export const SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

/**
 * `sharedDir`: the server's disks live on shared storage (<sharedDir>/instances/<id>/), the rest
 * (sockets, pidfile, spec, logs) stays in the host's own instance directory.
 */
export function instancePaths(stateDir: string, serverId: string, sharedDir?: string): InstancePaths {
  const dir = join(stateDir, 'instances', assertServerId(serverId));
  const disks = sharedDir ? join(sharedDir, 'instances', serverId) : dir;
  return {
    dir,
    spec: join(dir, 'spec.json'),
    qmp: join(dir, 'qmp.sock'),
    qmpOps: join(dir, 'qmp-ops.sock'),
    console: join(dir, 'console.log'),
    serial: join(dir, 'serial.sock'),
    vnc: join(dir, 'vnc.sock'),
    pidfile: join(dir, 'qemu.pid'),
    stderr: join(dir, 'qemu-stderr.log'),
    disk: join(disks, 'disk.qcow2'),
    ephemeral: join(disks, 'ephemeral.qcow2'),
    ...(sharedDir ? { sharedDisks: disks } : {}),
    memorySave: join(dir, 'memory.save'),
    memorySaveTmp: join(dir, 'memory.save.tmp'),
    saveSock: join(dir, 'save.sock'),
    restoreSock: join(dir, 'restore.sock'),
    snapshot: join(dir, 'snapshot.qcow2'),
  };
}

/** Every UNIX socket of an instance: each must fit in a socket address. */
export function socketsOf(paths: InstancePaths): string[] {
  return [paths.qmp, paths.qmpOps, paths.serial, paths.vnc, paths.saveSock, paths.restoreSock];
}

/** Longest state dir whose instance sockets still fit in a UNIX socket address. */
export function maxStateDirLength(): number {
  const probe = instancePaths('/', '00000000-0000-0000-0000-000000000000');
  return MAX_UNIX_SOCKET_PATH - Math.max(...socketsOf(probe).map((socket) => Buffer.byteLength(socket)));
}

export function buildQemuArgv(options: QemuArgvOptions): string[] {
  const spec = validateInstanceSpec(options.spec);
  const { paths, accelerator } = options;
  for (const path of [paths.console, paths.pidfile]) assertSafePath(path);
  for (const socket of socketsOf(paths)) {
    assertSafePath(socket);
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
    '-smp', spec.topology ? `${spec.vcpus},sockets=${spec.topology.sockets},cores=${spec.topology.cores},threads=${spec.topology.threads}` : String(spec.vcpus),
    // TCG: 8 KiB short of the flavor, off QEMU 7.2's broken dirty-tracking path (qemu-migration-quirks.ts).
    '-m', tcgRamArgument(spec.ramMb, accelerator),
    ...smbiosArgs(spec),
    '-display', 'none',
    ...qmpMonitor('qmp', paths.qmp),
    ...qmpMonitor('qmp-ops', paths.qmpOps),
    // QEMU logs what the guest writes even while no client is connected.
    '-chardev', `socket,id=serial0,path=${escapeOptionValue(paths.serial)},server=on,wait=off,logfile=${escapeOptionValue(paths.console)},logappend=on`,
    '-serial', 'chardev:serial0',
    // `vnc=` named explicitly: as the implied first key, a '=' in the path would split it.
    '-vnc', `vnc=unix:${escapeOptionValue(paths.vnc)}`,
    '-device', 'VGA,id=video0',
    ...storageArgs(spec, paths, options.image),
    ...nicArgs(spec.nics, firstNicBootIndex(spec)),
    '-device', 'pvpanic,id=panic0',
    '-action', 'panic=shutdown',
    '-device', 'virtio-balloon-pci,id=balloon0,deflate-on-oom=on',
    ...spareRootPortArgs(options.spareRootPorts ?? DEFAULT_SPARE_ROOT_PORTS, spec.nics?.length ?? 0),
    // -pidfile takes a plain file name, not option syntax: no escaping.
    '-pidfile', paths.pidfile,
    '-sandbox', SANDBOX,
    ...(options.incoming ? ['-incoming', 'defer'] : []),
  ];
}

function qmpMonitor(id: string, path: string): string[] {
  return [
    '-chardev', `socket,id=${id},path=${escapeOptionValue(path)},server=on,wait=off`,
    '-mon', `chardev=${id},mode=control`,
  ];
}
