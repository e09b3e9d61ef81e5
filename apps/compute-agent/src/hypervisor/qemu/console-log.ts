/**
 * The serial console log of an instance (the serial socket chardev's `logfile`, appended across
 * QEMU restarts and trimmed at each start), as Nova's os-getConsoleOutput
 * answers it: the last bytes of the file (capped, so a reply fits in one NATS message), the last
 * `lines` of those, and no control characters but tab and newline.
 */
import { open, rename, stat, writeFile } from 'node:fs/promises';

/** Nova's libvirt driver keeps 100 KiB; a NATS message holds 1 MiB, JSON escaping included. */
export const MAX_CONSOLE_BYTES = 256 * 1024;

/** Nova's filter: [\x00-\x08\x0B-\x1F] goes (XML could not carry it); \t and \n stay. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f]/g;

/**
 * The text of a log tail: `truncated` when the bytes start mid-file (their first, partial line is
 * dropped); the last `lines` lines as `tail -n` counts them (a final newline ends a line, it does
 * not start an empty one). Pure.
 */
export function consoleTail(bytes: Buffer, options: { lines?: number; truncated?: boolean }): string {
  let text = bytes.toString('utf8');
  if (options.truncated) {
    const firstBreak = text.indexOf('\n');
    text = firstBreak === -1 ? '' : text.slice(firstBreak + 1);
  }
  text = text.replace(CONTROL, '');
  if (options.lines === undefined) return text;
  if (options.lines === 0) return '';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const all = body.split('\n');
  if (all.length <= options.lines) return text;
  return `${all.slice(-options.lines).join('\n')}${text.endsWith('\n') ? '\n' : ''}`;
}

/** Reads the tail of a console log; a missing file (nothing printed yet) is an empty log. */
export async function readConsoleLog(path: string, options: { lines?: number; maxBytes?: number } = {}): Promise<string> {
  const maxBytes = options.maxBytes ?? MAX_CONSOLE_BYTES;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, size - length);
    return consoleTail(buffer.subarray(0, bytesRead), { lines: options.lines, truncated: size > length });
  } finally {
    await handle.close();
  }
}

/** A log past this size is cut down to its last MAX_CONSOLE_BYTES when QEMU starts again. */
export const TRIM_CONSOLE_AT_BYTES = 4 * MAX_CONSOLE_BYTES;

/**
 * Keeps a console log that grows across restarts bounded: called before QEMU starts (QEMU holds
 * it open while it runs). Keeps the tail that os-getConsoleOutput can show; a missing file is fine.
 */
export async function trimConsoleLog(path: string, options: { keepBytes?: number; atBytes?: number } = {}): Promise<boolean> {
  const keep = options.keepBytes ?? MAX_CONSOLE_BYTES;
  const size = await stat(path).then((s) => s.size, () => 0);
  if (size <= (options.atBytes ?? TRIM_CONSOLE_AT_BYTES)) return false;
  const handle = await open(path, 'r');
  let tail: Buffer;
  try {
    tail = Buffer.alloc(keep);
    const { bytesRead } = await handle.read(tail, 0, keep, size - keep);
    tail = tail.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  await writeFile(`${path}.tmp`, tail);
  await rename(`${path}.tmp`, path);
  return true;
}
