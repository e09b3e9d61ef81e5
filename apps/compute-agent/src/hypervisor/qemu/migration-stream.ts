/**
 * QEMU's migration stream to and from a file, through UNIX sockets. QEMU runs with
 * `-sandbox spawn=deny`, so `exec:` migration URIs are out; the agent moves the bytes instead:
 * on suspend it listens where QEMU sends (`migrate unix:<save.sock>`) and writes a file; on resume
 * QEMU listens (`migrate-incoming unix:<restore.sock>`) and the agent sends the file.
 */
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Server, Socket, createConnection, createServer } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { QemuMonitor } from './qemu-monitor';
import { sleep } from './qemu-process';

/** Migration runs as fast as the host can write: bytes per second, within QEMU's bound. */
export const MAX_BANDWIDTH = 1e15;

/** Receives one migration stream into a file: fsynced and closed before `done` resolves. */
export class MigrationSink {
  readonly done: Promise<number>;
  private readonly server: Server;
  private connection?: Socket;
  private settle!: { resolve: (bytes: number) => void; reject: (error: Error) => void };

  private constructor(
    readonly socketPath: string,
    private readonly filePath: string,
  ) {
    this.done = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined); // observed by whoever awaits it; never unhandled
    this.server = createServer((socket) => this.onConnection(socket));
  }

  static async listen(socketPath: string, filePath: string): Promise<MigrationSink> {
    await rm(socketPath, { force: true });
    const sink = new MigrationSink(socketPath, filePath);
    await new Promise<void>((resolve, reject) => {
      sink.server.once('error', reject);
      sink.server.listen(socketPath, resolve);
    });
    return sink;
  }

  async close(): Promise<void> {
    this.connection?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  private onConnection(socket: Socket): void {
    // One stream per sink: anyone else connecting is turned away.
    if (this.connection) return void socket.destroy();
    this.connection = socket;
    this.receive(socket).then(this.settle.resolve, this.settle.reject);
  }

  private async receive(socket: Socket): Promise<number> {
    const file = await open(this.filePath, 'w', 0o600);
    let bytes = 0;
    try {
      for await (const chunk of socket as AsyncIterable<Buffer>) {
        await file.write(chunk);
        bytes += chunk.length;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    return bytes;
  }
}

/** Sends a saved stream to a QEMU listening for it; resolves once every byte is handed over. */
export async function feedMigrationStream(socketPath: string, filePath: string): Promise<void> {
  const socket = createConnection({ path: socketPath });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await pipeline(createReadStream(filePath), socket);
}

/** Polls `query-migrate` (either side) until it completes; throws when it fails or takes too long. */
export async function waitForMigration(monitor: QemuMonitor, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await monitor.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new Error(`migration ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    }
    if (Date.now() > deadline) throw new Error(`migration not completed within ${timeoutMs} ms (status ${info.status ?? 'none'})`);
    await sleep(20);
  }
}

/** `promise`, or a rejection after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
