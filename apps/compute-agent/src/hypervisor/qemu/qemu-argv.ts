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
}

export interface QemuArgvOptions {
  spec: InstanceSpec;
  paths: InstancePaths;
  accelerator: Accelerator;
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
  for (const path of [paths.qmp, paths.qmpOps, paths.console, paths.pidfile]) assertSafePath(path);
  for (const socket of [paths.qmp, paths.qmpOps]) {
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
    // -pidfile takes a plain file name, not option syntax: no escaping.
    '-pidfile', paths.pidfile,
    '-sandbox', SANDBOX,
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
