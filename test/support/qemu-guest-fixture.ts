/**
 * Helpers for integration specs that boot real QEMU guests through the agent's driver: the test
 * guest image (deploy/guest-image, built by `npm run guest-image`), served over HTTP as the image
 * store would, and its serial console (UNIX socket in, console.log out).
 */
import { ImageSource } from '@nubo/contracts';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo, createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';

/** Where build.sh leaves the test guest ($NUBO_STATE_DIR/guest-image), in the usual state dirs. */
export function findGuestImage(): string | undefined {
  const dirs = [process.env.NUBO_STATE_DIR, '/tmp/nubo-test', '/var/lib/nubo'].filter((d): d is string => !!d);
  return dirs.map((dir) => join(dir, 'guest-image', 'nubo-test.qcow2')).find((path) => existsSync(path));
}

/** Serves `bytes` on 127.0.0.1 as an image source of `diskFormat`. */
export async function serveImage(bytes: Buffer, diskFormat: ImageSource['diskFormat']): Promise<{ image: ImageSource; close: () => Promise<void> }> {
  const http: Server = createServer((_req, res) => res.writeHead(200, { 'content-length': bytes.length }).end(bytes));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/image`;
  const image: ImageSource = { id: randomUUID(), sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, diskFormat, url };
  return { image, close: () => new Promise<void>((resolve) => http.close(() => resolve())) };
}

/** Builds the test guest (cached by build.sh) under $NUBO_STATE_DIR/guest-image; returns its path. */
export async function buildGuestImage(): Promise<string> {
  const script = resolve(__dirname, '../../deploy/guest-image/build.sh');
  const dir = join(process.env.NUBO_STATE_DIR ?? '/tmp/nubo-test', 'guest-image');
  const { stdout } = await promisify(execFile)('bash', [script, dir], { timeout: 600_000, maxBuffer: 1 << 20 });
  return stdout.trim();
}

export function serveGuestImage(path: string): ReturnType<typeof serveImage> {
  return serveImage(readFileSync(path), 'qcow2');
}

/** Polls a file until `pattern` matches `count` times; returns the file's text. */
export async function waitForText(path: string, pattern: RegExp, options: { timeoutMs: number; count?: number }): Promise<string> {
  const deadline = Date.now() + options.timeoutMs;
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if ((text.match(global)?.length ?? 0) >= (options.count ?? 1)) return text;
    if (Date.now() > deadline) throw new Error(`${pattern} not seen ${options.count ?? 1} time(s) in ${path} within ${options.timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Connects to a serial console socket, types `text`, and hangs up. */
export async function typeOnSerial(socketPath: string, text: string): Promise<void> {
  const socket = createConnection({ path: socketPath });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => socket.write(text, (error) => (error ? reject(error) : resolve())));
  // Let QEMU read it before the hang-up.
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.destroy();
}

/** The first bytes a stream socket says when connected to (a VNC server's RFB greeting). */
export async function greetingOf(socketPath: string, bytes = 12): Promise<string> {
  const socket = createConnection({ path: socketPath });
  try {
    return await new Promise<string>((resolve, reject) => {
      let got = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= bytes) resolve(got.subarray(0, bytes).toString('latin1'));
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`closed after ${got.length} bytes`)));
    });
  } finally {
    socket.destroy();
  }
}

/** Inodes of the TCP sockets a process holds that listen (state 0A), from its own netns view. */
export function listeningTcpSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A') inodes.add(fields[9]);
    }
  }
  const held: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode && inodes.has(inode)) held.push(inode);
    } catch {
      // closed meanwhile
    }
  }
  return held;
}
