import { ConflictError, REQUEST_ID_HEADER, TimeoutError, event, rpc } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { RpcClient } from './rpc-client';
import { HandlerContext, RpcServer } from './rpc-server';

// Real NATS: the test harness starts it (deploy/test.sh) and exports NUBO_NATS_URL.
const url = process.env.NUBO_NATS_URL ?? 'nats://127.0.0.1:54223';

const Echo = rpc<{ text: string }, { text: string; requestId: string }>('echo', { timeoutMs: 2_000 });
const Fail = rpc<Record<string, never>, never>('fail', { timeoutMs: 2_000 });
const Slow = rpc<Record<string, never>, never>('slow', { timeoutMs: 300 });
const Ping = event<{ n: number }>('ping');

describe(RpcClient.name, () => {
  const prefix = `test.${randomUUID().slice(0, 8)}`;
  let server: RpcServer;
  let client: RpcClient;
  const pings: Array<{ n: number; ctx: HandlerContext }> = [];

  beforeAll(async () => {
    server = new RpcServer({ url, name: 'rpc-test-server', queue: 'rpc-test' });
    server.handle(`${prefix}.echo`, Echo, async (req, ctx) => ({ text: req.text, requestId: ctx.requestId }));
    server.handle(`${prefix}.fail`, Fail, async () => {
      throw new ConflictError('server is busy', { serverId: 'abc' });
    });
    server.handle(`${prefix}.slow`, Slow, () => new Promise(() => undefined));
    server.onEvent(`${prefix}.*.ping`, Ping, async (payload, ctx) => {
      pings.push({ ...payload, ctx });
    });
    await new Promise<void>((resolve, reject) => server.listen((err?: unknown) => (err ? reject(err) : resolve())));
    client = new RpcClient({ url, name: 'rpc-test-client' });
    await client.connect();
  });

  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it('calls a typed handler and carries the request id in NATS headers', async () => {
    const reply = await client.call(`${prefix}.echo`, Echo, { text: 'hi' }, { requestId: 'req-123' });
    expect(reply).toEqual({ text: 'hi', requestId: 'req-123' });
    expect(REQUEST_ID_HEADER).toBe('x-openstack-request-id');
  });

  it('rebuilds a domain error thrown by the handler', async () => {
    const error = await client.call(`${prefix}.fail`, Fail, {}, { requestId: 'r' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toBe('server is busy');
    expect((error as ConflictError).details).toEqual({ serverId: 'abc' });
  });

  it('times out with TimeoutError when the handler never answers', async () => {
    await expect(client.call(`${prefix}.slow`, Slow, {}, { requestId: 'r' })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('times out when nobody serves the subject', async () => {
    await expect(
      client.call(`${prefix}.nobody`, Echo, { text: 'x' }, { requestId: 'r', timeoutMs: 200 }),
    ).rejects.toBeInstanceOf(TimeoutError);
  });

  it('delivers events to wildcard subscriptions with their subject', async () => {
    client.emit(`${prefix}.h7.ping`, Ping, { n: 7 }, { requestId: 'req-ev' });
    for (let i = 0; i < 50 && pings.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pings).toEqual([{ n: 7, ctx: { requestId: 'req-ev', subject: `${prefix}.h7.ping` } }]);
  });
});
