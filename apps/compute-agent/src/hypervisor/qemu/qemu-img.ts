/**
 * qemu-img, always with an explicit format and argument arrays. Image headers are untrusted input:
 * `info` runs under CPU and address-space limits with a timeout (a crafted qcow2 can make it spin
 * or allocate), and an image that points at another host file (backing file, external data file)
 * is refused, so a tenant's upload can never make QEMU open a file of the host.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type ImageFormat = 'raw' | 'qcow2';

export interface ImageInfo {
  format: string;
  virtualSize: number;
}

export interface QemuImgOptions {
  /** Default `qemu-img`. */
  binary?: string;
  timeoutMs?: number;
}

/** Limits for inspecting an untrusted image: 30 s of CPU, 1 GiB of address space. */
export const INFO_LIMITS = ['--cpu=30', '--as=1073741824'];

export class UnsafeImageError extends Error {}

/** The command line of `qemu-img info` (pure, for tests). */
export function infoCommand(file: string, format: ImageFormat, binary = 'qemu-img'): { file: string; args: string[] } {
  return { file: 'prlimit', args: [...INFO_LIMITS, binary, 'info', '--output=json', '-f', format, file] };
}

/**
 * Checks what `qemu-img info` said: the format asked for, a sane virtual size, and no reference
 * to another file. Pure, for tests.
 */
export function checkImageInfo(raw: unknown, format: ImageFormat): ImageInfo {
  const info = raw as Record<string, unknown> | null;
  if (!info || typeof info !== 'object') throw new UnsafeImageError('qemu-img info said nothing useful');
  if (info.format !== format) throw new UnsafeImageError(`image is ${String(info.format)}, not ${format}`);
  const size = info['virtual-size'];
  if (!Number.isSafeInteger(size) || (size as number) <= 0) throw new UnsafeImageError('image has no valid virtual size');
  if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined) {
    throw new UnsafeImageError('image has a backing file');
  }
  const specific = info['format-specific'] as { data?: Record<string, unknown> } | undefined;
  if (specific?.data?.['data-file'] !== undefined) throw new UnsafeImageError('image has an external data file');
  return { format: info.format as string, virtualSize: size as number };
}

export async function qemuImgInfo(file: string, format: ImageFormat, options: QemuImgOptions = {}): Promise<ImageInfo> {
  const command = infoCommand(file, format, options.binary);
  let stdout: string;
  try {
    ({ stdout } = await run(command.file, command.args, { timeout: options.timeoutMs ?? 60_000, maxBuffer: 1 << 20 }));
  } catch (error) {
    throw new UnsafeImageError(`qemu-img info failed: ${firstLine(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new UnsafeImageError('qemu-img info did not print JSON');
  }
  return checkImageInfo(parsed, format);
}

export interface OverlayOptions {
  base: string;
  baseFormat: ImageFormat;
  overlay: string;
  sizeBytes: number;
}

/** The command line of `qemu-img create` for an overlay (pure, for tests). */
export function overlayCommand(o: OverlayOptions, binary = 'qemu-img'): { file: string; args: string[] } {
  return { file: binary, args: ['create', '-q', '-f', 'qcow2', '-F', o.baseFormat, '-b', o.base, o.overlay, String(o.sizeBytes)] };
}

/** Creates a qcow2 overlay with an explicit backing format. */
export async function createOverlay(o: OverlayOptions, options: QemuImgOptions = {}): Promise<void> {
  const command = overlayCommand(o, options.binary);
  try {
    await run(command.file, command.args, { timeout: options.timeoutMs ?? 60_000, maxBuffer: 1 << 20 });
  } catch (error) {
    throw new Error(`qemu-img create failed: ${firstLine(error)}`);
  }
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string; killed?: boolean; signal?: string };
  if (e.killed || e.signal) return `killed (${e.signal ?? 'timeout'})`;
  return (e.stderr?.trim() || e.message || String(error)).split('\n')[0];
}

/** The command line of `qemu-img create` for an empty standalone qcow2 (pure, for tests). */
export function blankQcow2Command(file: string, sizeBytes: number, binary = 'qemu-img'): { file: string; args: string[] } {
  return { file: binary, args: ['create', '-q', '-f', 'qcow2', file, String(sizeBytes)] };
}

export async function createBlankQcow2(file: string, sizeBytes: number, options: QemuImgOptions = {}): Promise<void> {
  const command = blankQcow2Command(file, sizeBytes, options.binary);
  try {
    await run(command.file, command.args, { timeout: options.timeoutMs ?? 60_000, maxBuffer: 1 << 20 });
  } catch (error) {
    throw new Error(`qemu-img create failed: ${firstLine(error)}`);
  }
}

export interface FlattenOptions {
  /** A server's qcow2 overlay. */
  overlay: string;
  /** The cached base under it, given explicitly (the name in the overlay's header is not followed). */
  base: { path: string; format: ImageFormat };
  target: string;
}

/**
 * The command line that copies overlay + base into one standalone qcow2 (pure, for tests). The
 * chain is a `json:` filename: every node's driver is explicit and the base has no backing.
 */
export function flattenCommand(o: FlattenOptions, binary = 'qemu-img'): { file: string; args: string[] } {
  const base = { driver: o.base.format, file: { driver: 'file', filename: o.base.path }, ...(o.base.format === 'qcow2' ? { backing: null } : {}) };
  const chain = { driver: 'qcow2', file: { driver: 'file', filename: o.overlay }, backing: base };
  return { file: binary, args: ['convert', '-q', '-O', 'qcow2', `json:${JSON.stringify(chain)}`, o.target] };
}

export async function flattenImage(o: FlattenOptions, options: QemuImgOptions = {}): Promise<void> {
  const command = flattenCommand(o, options.binary);
  try {
    await run(command.file, command.args, { timeout: options.timeoutMs ?? 1_200_000, maxBuffer: 1 << 20 });
  } catch (error) {
    throw new Error(`qemu-img convert failed: ${firstLine(error)}`);
  }
}
