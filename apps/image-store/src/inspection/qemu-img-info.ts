/**
 * `qemu-img info` on untrusted data: an explicit format (never probing), an argument array,
 * CPU and address-space limits (prlimit) and a wall-clock timeout, as OpenStack does since
 * CVE-2015-5162.
 */
import { spawn } from 'node:child_process';

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  backingFilename?: string;
  dataFile?: string;
}

export interface QemuImgLimits {
  cpuSeconds: number;
  addressSpaceBytes: number;
  timeoutMs: number;
}

export const DEFAULT_QEMU_IMG_LIMITS: QemuImgLimits = { cpuSeconds: 30, addressSpaceBytes: 1024 ** 3, timeoutMs: 60_000 };
const MAX_OUTPUT = 1024 * 1024;

export function qemuImgInfoArgv(path: string, format: 'qcow2' | 'raw', limits: QemuImgLimits): string[] {
  return [`--cpu=${limits.cpuSeconds}`, `--as=${limits.addressSpaceBytes}`, '--', 'qemu-img', 'info', '--output=json', '-f', format, path];
}

export function qemuImgInfo(path: string, format: 'qcow2' | 'raw', limits = DEFAULT_QEMU_IMG_LIMITS): Promise<QemuImgInfo> {
  return new Promise((resolve, reject) => {
    const child = spawn('prlimit', qemuImgInfoArgv(path, format, limits), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let failure: Error | undefined;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT) {
        failure = new Error('qemu-img info printed too much');
        child.kill('SIGKILL');
      } else into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    const timer = setTimeout(() => {
      failure = new Error(`qemu-img info did not finish within ${limits.timeoutMs} ms`);
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code !== 0) {
        const why = Buffer.concat(err).toString('utf8').trim().split('\n').pop() ?? '';
        return reject(new Error(`qemu-img info failed (${signal ?? `exit ${code}`}): ${why}`));
      }
      try {
        resolve(parseQemuImgInfo(Buffer.concat(out).toString('utf8')));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

export function parseQemuImgInfo(json: string): QemuImgInfo {
  const info = JSON.parse(json) as Record<string, unknown>;
  const specific = (info['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  if (typeof info['virtual-size'] !== 'number' || typeof info.format !== 'string') throw new Error('qemu-img info gave no virtual size');
  return {
    format: info.format,
    virtualSize: info['virtual-size'],
    backingFilename: typeof info['backing-filename'] === 'string' ? info['backing-filename'] : undefined,
    dataFile: typeof specific['data-file'] === 'string' ? specific['data-file'] : undefined,
  };
}
