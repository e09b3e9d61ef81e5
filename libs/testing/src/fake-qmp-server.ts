/**
 * A fake QMP monitor on a UNIX socket for unit tests: it greets, accepts qmp_capabilities,
 * answers commands from a table, can emit events, stay silent, or hang up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Server, Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type FakeQmpHandler = (args: Record<string, unknown> | undefined) =>
  | { return: unknown }
  | { error: { class: string; desc: string } }
  | 'silent';

export class FakeQmpServer {
  readonly path: string;
  readonly received: Array<{ execute: string; arguments?: Record<string, unknown>; id?: string }> = [];
  private readonly dir: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  handlers: Record<string, FakeQmpHandler> = {
    qmp_capabilities: () => ({ return: {} }),
    'query-status': () => ({ return: { running: true, status: 'running' } }),
  };
  greet = true;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'fake-qmp-'));
    this.path = join(this.dir, 'qmp.sock');
    this.server = createServer((socket) => this.onConnection(socket));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(this.path, resolve));
    return this;
  }

  emitEvent(event: string, data: Record<string, unknown> = {}): void {
    const line = JSON.stringify({ event, data, timestamp: { seconds: 1, microseconds: 2 } });
    for (const s of this.sockets) s.write(`${line}\r\n`);
  }

  /** Sends raw bytes to every client (for protocol-error tests). */
  sendRaw(text: string): void {
    for (const s of this.sockets) s.write(text);
  }

  hangUp(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.hangUp();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    if (this.greet) {
      socket.write(
        `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] } })}\r\n`,
      );
    }
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        const message = JSON.parse(line) as { execute: string; arguments?: Record<string, unknown>; id?: string };
        this.received.push(message);
        const handler = this.handlers[message.execute];
        const reply = handler
          ? handler(message.arguments)
          : { error: { class: 'CommandNotFound', desc: `The command ${message.execute} has not been found` } };
        if (reply !== 'silent') socket.write(`${JSON.stringify({ ...reply, id: message.id })}\r\n`);
      }
    });
  }
}
