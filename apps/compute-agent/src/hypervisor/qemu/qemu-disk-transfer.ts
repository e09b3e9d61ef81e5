/**
 * The command lines of a cold migration's disk copy (pure, golden-tested): the destination
 * exports an empty target disk with `qemu-nbd`, the source writes into it with `qemu-img
 * convert`. Why this design:
 *
 * - Only the root disk's top layer travels: the target is a qcow2 overlay on the destination's
 *   own cached copy of the same base image (same sha256), and `convert -n -B` copies only what
 *   the source overlay holds (data and zeroes), leaving the rest to the base. The ephemeral disk
 *   (no base) is copied whole into a blank qcow2 (`--target-is-zero`: zeroes are skipped).
 * - Every image is opened through a `json:` name with each node's driver explicit and the base's
 *   own backing null: neither tool follows a backing-file name written in an image header.
 * - The export listens on the destination's underlay address only, on a port the host firewall
 *   opens to the source's underlay address alone (migration-listener-firewall.ts), under a random
 *   export name told only to the scheduler and the source: a stray client neither connects nor
 *   names the export.
 * - A second copy (a retried transfer) writes the same bytes: the source guest is powered off
 *   for the whole copy and the target was made for this migration, so a copy is idempotent.
 * - Both tools run as QEMU's unprivileged user (setpriv, as QEMU does) inside the host's network
 *   namespace; qemu-nbd daemonizes (--fork: its parent exits once it listens) so it outlives an
 *   agent restart, and is found again by its pidfile.
 */
import { ColdDiskName, ValidationError } from '@nubo/contracts';
import { randomBytes } from 'node:crypto';
import { isIP, isIPv6 } from 'node:net';

export interface BaseRef {
  path: string;
  format: 'raw' | 'qcow2';
}

const EXPORT_NAME = /^[a-z]{4,9}-[0-9a-f]{32}$/;

/** A fresh export name: the disk's name and 128 random bits. */
export function newExportName(disk: ColdDiskName): string {
  return `${disk}-${randomBytes(16).toString('hex')}`;
}

export function assertExportName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !EXPORT_NAME.test(name)) throw new ValidationError(`${field} is not an export name`, field);
  return name;
}

/** nbd://<address>:<port>/<export> (IPv6 in brackets). */
export function nbdUri(address: string, port: number, name: string): string {
  if (!isIP(address)) throw new ValidationError('address must be an IP address', 'address');
  return `nbd://${isIPv6(address) ? `[${address}]` : address}:${port}/${assertExportName(name)}`;
}

/** A `json:` name of a qcow2 file on `base`, or on nothing (backing null). */
export function qcow2Chain(file: string, base?: BaseRef): string {
  const backing = base
    ? { driver: base.format, file: { driver: 'file', filename: base.path }, ...(base.format === 'qcow2' ? { backing: null } : {}) }
    : null;
  return `json:${JSON.stringify({ driver: 'qcow2', file: { driver: 'file', filename: file }, backing })}`;
}

export interface NbdServerOptions {
  /** The target disk (a qcow2 made for this migration). */
  target: string;
  /** The root disk's base; absent for the ephemeral disk. */
  base?: BaseRef;
  address: string;
  port: number;
  exportName: string;
  pidfile: string;
}

/** qemu-nbd's arguments (after the binary). */
export function nbdServerArgs(o: NbdServerOptions): string[] {
  if (!isIP(o.address)) throw new ValidationError('address must be an IP address', 'address');
  return [
    '--fork',
    `--pid-file=${o.pidfile}`,
    '--persistent',
    '--shared=1',
    `--bind=${o.address}`,
    `--port=${o.port}`,
    `--export-name=${assertExportName(o.exportName, 'exportName')}`,
    qcow2Chain(o.target, o.base),
  ];
}

export interface ConvertOptions {
  /** The source disk (the instance's qcow2). */
  source: string;
  /** The root disk's base; absent for the ephemeral disk. */
  base?: BaseRef;
  destination: { address: string; port: number; name: string };
}

/**
 * qemu-img's arguments. The root disk: `-B` (the target has the same base) copies only what the
 * overlay holds. The ephemeral disk: the whole disk, zeroes skipped (the target is blank).
 */
export function convertArgs(o: ConvertOptions): string[] {
  const target = nbdUri(o.destination.address, o.destination.port, o.destination.name);
  const layer = o.base ? ['-B', o.base.path] : ['--target-is-zero'];
  return ['convert', '-n', ...layer, '-W', '-m', '8', qcow2Chain(o.source, o.base), target];
}
