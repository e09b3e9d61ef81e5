import { Logger } from '@nestjs/common';
import { FakeQmpServer } from '@nubo/testing';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MigrationSink, feedMigrationStream, waitForMigration, within } from './migration-stream';
import { QemuMonitor } from './qemu-monitor';

const id = '4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b';

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe(MigrationSink.name, () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'nubo-stream-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the one stream it receives to the file and reports its size', async () => {
    const sink = await MigrationSink.listen(join(dir, 'save.sock'), join(dir, 'memory.save.tmp'));
    const payload = randomBytes(3 * 2 ** 20);
    const qemu = await connect(sink.socketPath);
    qemu.end(payload);
    await expect(sink.done).resolves.toBe(payload.length);
    expect(readFileSync(join(dir, 'memory.save.tmp')).equals(payload)).toBe(true);
    await sink.close();
    expect(existsSync(sink.socketPath)).toBe(false);
  });

  it('turns away a second connection', async () => {
    const sink = await MigrationSink.listen(join(dir, 'save.sock'), join(dir, 'out'));
    const first = await connect(sink.socketPath);
    const second = await connect(sink.socketPath);
    await new Promise((resolve) => second.once('close', resolve));
    first.end('only me');
    await expect(sink.done).resolves.toBe(7);
    await sink.close();
  });

  it('replaces a stale socket file left by a dead agent', async () => {
    writeFileSync(join(dir, 'save.sock'), 'stale');
    const sink = await MigrationSink.listen(join(dir, 'save.sock'), join(dir, 'out'));
    (await connect(sink.socketPath)).end('x');
    await expect(sink.done).resolves.toBe(1);
    await sink.close();
  });
});

describe('feedMigrationStream', () => {
  it('sends the whole file to the listener and ends the stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nubo-stream-'));
    const payload = randomBytes(2 ** 20);
    writeFileSync(join(dir, 'memory.save'), payload);
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve) => {
      const server = createServer((socket) => {
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('end', () => server.close(() => resolve()));
      });
      server.listen(join(dir, 'restore.sock'));
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await feedMigrationStream(join(dir, 'restore.sock'), join(dir, 'memory.save'));
    await ended;
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('waitForMigration', () => {
  let qmp: FakeQmpServer;
  let monitor: QemuMonitor;

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(async () => {
    qmp = await new FakeQmpServer().start();
  });
  afterEach(async () => {
    monitor?.close();
    await qmp.stop();
  });

  async function answering(...statuses: Array<Record<string, unknown>>): Promise<void> {
    qmp.handlers['query-migrate'] = () => ({ return: statuses.length > 1 ? statuses.shift() : statuses[0] });
    monitor = await QemuMonitor.connect(qmp.path, id, { timeoutMs: 2_000 });
  }

  it('polls until QEMU says completed', async () => {
    await answering({ status: 'setup' }, { status: 'active' }, { status: 'completed' });
    await expect(waitForMigration(monitor, 2_000)).resolves.toBeUndefined();
    expect(qmp.received.filter((m) => m.execute === 'query-migrate')).toHaveLength(3);
  });

  it.each([
    [{ status: 'failed', 'error-desc': 'Unable to write to socket: Broken pipe' }, 'migration failed: Unable to write to socket: Broken pipe'],
    [{ status: 'cancelled' }, 'migration cancelled'],
  ])('throws when the migration ends as %j', async (reply, message) => {
    await answering({ status: 'active' }, reply);
    await expect(waitForMigration(monitor, 2_000)).rejects.toThrow(message);
  });

  it('gives up after the timeout', async () => {
    await answering({ status: 'active' });
    await expect(waitForMigration(monitor, 100)).rejects.toThrow(/not completed within 100 ms \(status active\)/);
  });
});

describe('within', () => {
  it('rejects naming the step when the promise is too slow', async () => {
    await expect(within(new Promise(() => undefined), 20, 'writing the saved RAM')).rejects.toThrow('writing the saved RAM took over 20 ms');
    await expect(within(Promise.resolve(7), 20, 'x')).resolves.toBe(7);
  });
});
