import { FakeQmpServer } from '@nubo/testing';
import { QmpClient } from './qmp-client';
import { QmpCommandError, QmpConnectError, QmpDisconnectedError, QmpTimeoutError } from './qmp-errors';
import { QmpEvent } from './qmp-messages';

describe(QmpClient.name, () => {
  let server: FakeQmpServer;
  let client: QmpClient | undefined;

  beforeEach(async () => {
    server = await new FakeQmpServer().start();
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await server.stop();
  });

  describe('connect', () => {
    it('reads the greeting and negotiates capabilities before anything else', async () => {
      client = await QmpClient.connect(server.path);
      expect(client.greeting?.QMP.version.qemu.major).toBe(7);
      expect(server.received.map((m) => m.execute)).toEqual(['qmp_capabilities']);
    });

    it('fails with QmpConnectError when no greeting arrives in time', async () => {
      server.greet = false;
      await expect(QmpClient.connect(server.path, { timeoutMs: 200 })).rejects.toBeInstanceOf(QmpConnectError);
    });

    it('fails with QmpConnectError when nothing listens', async () => {
      await expect(QmpClient.connect('/nonexistent/qmp.sock')).rejects.toBeInstanceOf(QmpConnectError);
    });
  });

  describe('execute', () => {
    it('sends arguments with a unique id and resolves with the return value', async () => {
      server.handlers['query-name'] = (args) => ({ return: { name: `echo:${String(args?.x)}` } });
      client = await QmpClient.connect(server.path);
      const [a, b] = await Promise.all([
        client.execute<{ name: string }>('query-name', { x: 1 }),
        client.execute<{ name: string }>('query-name', { x: 2 }),
      ]);
      expect([a.name, b.name]).toEqual(['echo:1', 'echo:2']);
      const ids = server.received.map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('rejects with QmpCommandError carrying the QMP error class', async () => {
      client = await QmpClient.connect(server.path);
      const error = await client.execute('no-such-command').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QmpCommandError);
      expect((error as QmpCommandError).errorClass).toBe('CommandNotFound');
    });

    it('rejects with QmpTimeoutError when QEMU stays silent', async () => {
      server.handlers['stop'] = () => 'silent';
      client = await QmpClient.connect(server.path);
      await expect(client.execute('stop', undefined, { timeoutMs: 100 })).rejects.toBeInstanceOf(QmpTimeoutError);
    });

    it('rejects every pending command when the connection drops', async () => {
      server.handlers['migrate'] = () => 'silent';
      client = await QmpClient.connect(server.path);
      const calls = [client.execute('migrate'), client.execute('migrate'), client.execute('migrate')];
      server.hangUp();
      const results = await Promise.allSettled(calls);
      expect(results.every((r) => r.status === 'rejected' && r.reason instanceof QmpDisconnectedError)).toBe(true);
      await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpDisconnectedError);
      expect(client.isConnected).toBe(false);
    });

    it('closes on a line that is not JSON and rejects what was pending', async () => {
      server.handlers['cont'] = () => 'silent';
      client = await QmpClient.connect(server.path);
      const pending = client.execute('cont');
      server.sendRaw('garbage\n');
      await expect(pending).rejects.toBeInstanceOf(QmpDisconnectedError);
    });
  });

  describe('events', () => {
    it('delivers asynchronous events between replies', async () => {
      client = await QmpClient.connect(server.path);
      const seen: QmpEvent[] = [];
      client.on('event', (e) => seen.push(e));
      server.emitEvent('STOP');
      server.emitEvent('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
      await client.queryStatus();
      expect(seen.map((e) => e.event)).toEqual(['STOP', 'SHUTDOWN']);
      expect(seen[1].data).toEqual({ guest: true, reason: 'guest-shutdown' });
    });
  });
});
