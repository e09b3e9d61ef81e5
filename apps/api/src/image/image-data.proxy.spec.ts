/** The API's streaming to the image store, against a stand-in image store on loopback. */
import { HttpException } from '@nestjs/common';
import { ConflictError, verifyCallerHeaders } from '@nubo/contracts';
import { IncomingMessage, Server, ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Request, Response } from 'express';
import { ApiConfig } from '../config';
import { ImageDataProxy } from './image-data.proxy';

const SECRET = 'x'.repeat(32);
const ID = '6f2a3c7e-0000-4000-8000-000000000001';
const caller = { projectId: 'p1', isAdmin: false };

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(handler: Handler, onContinue?: Handler): Promise<Server> {
  const server = createServer(handler);
  if (onContinue) server.on('checkContinue', onContinue);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
const portOf = (s: Server) => (s.address() as AddressInfo).port;
const close = (s: Server) => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); });

describe(ImageDataProxy.name, () => {
  let store: Server;
  let api: Server;
  let seen: { headers?: IncomingMessage['headers']; body?: Buffer };
  let outcome: Promise<unknown>;

  /** An "API" server whose every request goes through the proxy; resolves `outcome` with its result. */
  async function apiWith(run: (proxy: ImageDataProxy, req: Request, res: Response) => Promise<void>): Promise<void> {
    const proxy = new ImageDataProxy({ NUBO_IMAGE_URL: `http://127.0.0.1:${portOf(store)}`, NUBO_INTERNAL_SECRET: SECRET } as ApiConfig);
    let settle!: (v: unknown) => void;
    outcome = new Promise((resolve) => (settle = resolve));
    api = await listen((req, res) => {
      run(proxy, req as Request, res as unknown as Response).then(
        () => {
          if (!res.headersSent) res.writeHead(204).end();
          settle('ok');
        },
        (error: unknown) => {
          res.writeHead(599).end();
          settle(error);
        },
      );
    });
  }

  const send = (method: string, body?: Buffer, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: portOf(api), method, path: '/', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });

  beforeEach(() => (seen = {}));
  afterEach(async () => {
    await close(api);
    await close(store);
  });

  it('streams an upload with signed caller headers after 100 Continue', async () => {
    const accept: Handler = (req, res) => {
      seen.headers = req.headers;
      res.writeContinue();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.body = Buffer.concat(chunks);
        res.writeHead(204).end();
      });
    };
    store = await listen(accept, accept);
    await apiWith((proxy, req) => proxy.upload(req, ID, caller, 'req-1'));
    const data = Buffer.alloc(300_000, 7);
    expect((await send('PUT', data, { 'content-type': 'application/octet-stream' })).status).toBe(204);
    expect(await outcome).toBe('ok');
    expect(seen.body!.equals(data)).toBe(true);
    expect(seen.headers).toMatchObject({ expect: '100-continue', 'content-length': String(data.length), 'x-openstack-request-id': 'req-1' });
    expect(verifyCallerHeaders(seen.headers!, ID, SECRET)).toEqual(caller);
  });

  it.each([
    ['a domain error', 409, { code: 'conflict', message: 'Image status transition from active to saving is not allowed' }, ConflictError],
    ['a status without a domain code', 413, { code: 'too_large', message: 'Image exceeds the storage limit of 10 bytes' }, HttpException],
  ])('passes on a refusal before the body as %s, and still answers a client that sends it all', async (_name, status, body, type) => {
    const refuse: Handler = (_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    store = await listen(refuse, refuse);
    await apiWith((proxy, req) => proxy.upload(req, ID, caller, 'req-2'));
    expect((await send('PUT', Buffer.alloc(1_000_000), { 'content-type': 'application/octet-stream' })).status).toBe(599);
    const error = await outcome;
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toContain(body.message);
    if (error instanceof HttpException) expect(error.getStatus()).toBe(status);
  });

  it('passes a download through with its status, checksum and range headers', async () => {
    store = await listen((req, res) => {
      seen.headers = req.headers;
      res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-length': 3, 'content-range': 'bytes 0-2/10', 'x-other': 'no' }).end('abc');
    });
    await apiWith((proxy, req, res) => proxy.download(req, res, ID, caller, 'req-3'));
    const reply = await send('GET', undefined, { range: 'bytes=0-2' });
    expect(reply).toMatchObject({ status: 206, body: Buffer.from('abc') });
    expect(reply.headers).toMatchObject({ 'content-range': 'bytes 0-2/10', 'content-length': '3' });
    expect(reply.headers['x-other']).toBeUndefined();
    expect(seen.headers).toMatchObject({ range: 'bytes=0-2' });
  });
});
