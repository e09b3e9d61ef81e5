/**
 * `qemu-img convert` of a stored image into a new file: explicit input and output formats (never
 * probing), an argument array, CPU and address-space limits (prlimit) and a wall-clock timeout,
 * as for `qemu-img info`. Progress comes from `-p`, which prints `    (12.34/100%)\r` on stdout.
 */
import { spawn } from 'node:child_process';
import { isAbsolute } from 'node:path';

export type ConvertFormat = 'raw' | 'qcow2';

export interface ConvertSpec {
  source: string;
  sourceFormat: ConvertFormat;
  target: string;
  targetFormat: ConvertFormat;
  /** qcow2 targets only: compressed clusters (-c). */
  compress: boolean;
}

export interface ConvertLimits {
  cpuSeconds: number;
  addressSpaceBytes: number;
  timeoutMs: number;
}

export const DEFAULT_CONVERT_LIMITS: ConvertLimits = { cpuSeconds: 600, addressSpaceBytes: 2 * 1024 ** 3, timeoutMs: 1_800_000 };
const MAX_STDERR = 64 * 1024;

/** prlimit's arguments for the conversion. */
export function qemuImgConvertArgv(spec: ConvertSpec, limits: ConvertLimits): string[] {
  if (spec.compress && spec.targetFormat !== 'qcow2') throw new Error('compression needs a qcow2 target');
  // Absolute paths can never be read as options.
  if (!isAbsolute(spec.source) || !isAbsolute(spec.target)) throw new Error('qemu-img convert needs absolute paths');
  return [
    `--cpu=${limits.cpuSeconds}`,
    `--as=${limits.addressSpaceBytes}`,
    '--',
    'qemu-img',
    'convert',
    '-p',
    '-f',
    spec.sourceFormat,
    '-O',
    spec.targetFormat,
    ...(spec.compress ? ['-c'] : []),
    spec.source,
    spec.target,
  ];
}

/** Reads `-p` output as it arrives, in chunks cut anywhere. */
export class ConvertProgressParser {
  private tail = '';

  /** Feeds a chunk of stdout; returns the latest percentage (0-100) it completes, if any. */
  push(chunk: string): number | undefined {
    const parts = (this.tail + chunk).split(/[\r\n]/);
    // The last part may be cut; keep it (bounded) for the next chunk.
    this.tail = (parts.pop() ?? '').slice(-256);
    let latest: number | undefined;
    for (const part of parts) {
      const match = /^\s*\((\d{1,3}(?:\.\d+)?)\/100%\)\s*$/.exec(part);
      if (match) latest = Math.min(100, Number(match[1]));
    }
    return latest;
  }
}

/** Runs the conversion; `onProgress` hears each percentage qemu-img prints. Rejects with qemu-img's reason. */
export function runQemuImgConvert(spec: ConvertSpec, limits: ConvertLimits, onProgress: (percent: number) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('qemu-img convert was stopped: the image store is shutting down'));
    const child = spawn('prlimit', qemuImgConvertArgv(spec, limits), { stdio: ['ignore', 'pipe', 'pipe'] });
    const parser = new ConvertProgressParser();
    let stderr = '';
    let failure: Error | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const percent = parser.push(chunk);
      if (percent !== undefined) onProgress(percent);
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR) stderr += chunk;
    });
    const timer = setTimeout(() => {
      failure = new Error(`qemu-img convert did not finish within ${Math.round(limits.timeoutMs / 1000)} s`);
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    const stop = () => {
      failure = new Error('qemu-img convert was stopped: the image store is shutting down');
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', stop, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
    };
    child.on('error', (error) => {
      done();
      reject(error);
    });
    child.on('close', (code, exitSignal) => {
      done();
      if (failure) return reject(failure);
      if (code === 0) return resolve();
      // The reason reaches the image's owner: without the store's paths.
      const why = (stderr.trim().split('\n').pop() ?? '').split(spec.source).join('<source>').split(spec.target).join('<target>');
      // SIGXCPU / SIGKILL from prlimit's CPU limit, or an allocation refused under --as.
      reject(new Error(`qemu-img convert failed (${exitSignal ?? `exit ${code}`})${why ? `: ${why}` : ''}`));
    });
  });
}
