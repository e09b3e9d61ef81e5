/**
 * A QMP client with no framework, modelled on QEMU's python/qemu/qmp: connect, read the greeting,
 * negotiate capabilities, then run commands with ids and timeouts while events stream to
 * listeners. Every pending command is rejected when the connection closes.
 */
import { EventEmitter } from 'node:events';
import { Socket, createConnection } from 'node:net';
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
} from './qmp-errors';
import { QmpEvent, QmpGreeting, QmpIncoming, QmpStatus, isError, isEvent, isGreeting, isReturn } from './qmp-messages';

export interface QmpConnectOptions {
  /** Time allowed for connect + greeting + qmp_capabilities. */
  timeoutMs?: number;
  /** Default per-command timeout. */
  commandTimeoutMs?: number;
  /** Wire tracing (debug level); never given secrets: QMP carries none of ours. */
  trace?: (direction: '>' | '<', line: string) => void;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpClientEvents {
  event: [QmpEvent];
  close: [Error | undefined];
}

export class QmpClient extends EventEmitter<QmpClientEvents> {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private greetingWaiter?: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void };
  greeting?: QmpGreeting;

  private constructor(
    private readonly socket: Socket,
    private readonly options: Required<Pick<QmpConnectOptions, 'commandTimeoutMs'>> & QmpConnectOptions,
  ) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose(new QmpDisconnectedError('QMP connection closed')));
    socket.on('error', (error) => this.onClose(new QmpDisconnectedError(`QMP socket error: ${error.message}`)));
  }

  /** Connects to a QMP UNIX socket and negotiates capabilities. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const socket = createConnection({ path });
    const client = new QmpClient(socket, { commandTimeoutMs: 30_000, ...options });
    const deadline = setTimeout(
      () => socket.destroy(new Error(`no QMP greeting within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      client.greeting = await new Promise<QmpGreeting>((resolve, reject) => {
        client.greetingWaiter = { resolve, reject };
      });
      await client.execute('qmp_capabilities', undefined, { timeoutMs });
      return client;
    } catch (error) {
      socket.destroy();
      throw new QmpConnectError(`cannot connect to QMP at ${path}: ${(error as Error).message}`);
    } finally {
      clearTimeout(deadline);
    }
  }

  get isConnected(): boolean {
    return !this.closed;
  }

  /** Runs one command; resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closed) return Promise.reject(new QmpDisconnectedError(`QMP connection closed before ${command}`));
    const id = `nubo-${this.nextId++}`;
    const timeoutMs = options.timeoutMs ?? this.options.commandTimeoutMs;
    const line = JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.options.trace?.('>', line);
      this.socket.write(`${line}\n`);
    });
  }

  queryStatus(options: { timeoutMs?: number } = {}): Promise<QmpStatus> {
    return this.execute<QmpStatus>('query-status', undefined, options);
  }

  /** Closes the connection; pending commands are rejected. Idempotent. */
  close(): void {
    this.socket.destroy();
    this.onClose(new QmpDisconnectedError('QMP connection closed by client'));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    this.options.trace?.('<', line);
    let message: QmpIncoming;
    try {
      message = JSON.parse(line) as QmpIncoming;
    } catch {
      this.socket.destroy();
      this.onClose(new QmpProtocolError(`not JSON from QMP peer: ${line.slice(0, 80)}`));
      return;
    }
    if (isGreeting(message)) {
      this.greetingWaiter?.resolve(message);
      this.greetingWaiter = undefined;
      return;
    }
    if (isEvent(message)) {
      this.emit('event', message);
      return;
    }
    const id = (message as { id?: string }).id;
    const call = id === undefined ? undefined : this.pending.get(id);
    if (!call) return; // a reply to a command that already timed out
    this.pending.delete(id!);
    clearTimeout(call.timer);
    if (isError(message)) call.reject(new QmpCommandError(call.command, message.error.class, message.error.desc));
    else if (isReturn(message)) call.resolve(message.return);
    else call.reject(new QmpProtocolError(`unexpected QMP reply to ${call.command}`));
  }

  private onClose(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.greetingWaiter?.reject(reason);
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(new QmpDisconnectedError(`${reason.message} while ${call.command} was pending`));
      this.pending.delete(id);
    }
    this.emit('close', reason);
  }
}
