import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UploadError, uploadFile } from './snapshot-upload';

describe('uploadFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-upload-'));
  const file = join(dir, 'snapshot.qcow2');
  const content = Buffer.alloc(300_000, 0xab);
  let server: Server;
  let url: string;
  let received: { method?: string; headers: IncomingMessage['headers']; body: Buffer }[];
  /** How the server answers: after reading the body, or at once (before 100 Continue). */
  let answer: { status: number; before?: boolean; body?: string };

  beforeAll(async () => {
    writeFileSync(file, content);
    const handle = (req: IncomingMessage, res: ServerResponse, continued: boolean) => {
      if (answer.before) {
        received.push({ method: req.method, headers: req.headers, body: Buffer.alloc(0) });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body ?? '');
        return;
      }
      if (continued) res.writeContinue();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(answer.status).end(answer.body ?? '');
      });
    };
    server = createServer((req, res) => handle(req, res, false));
    server.on('checkContinue', (req, res) => handle(req, res, true));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/images/i1/file`;
  });
  beforeEach(() => {
    received = [];
    answer = { status: 204 };
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('PUTs the whole file as octet-stream with its length and the signed headers', async () => {
    await expect(uploadFile(file, { url, headers: { 'x-nubo-caller-project': 'p1' } })).resolves.toBe(content.length);
    expect(received).toHaveLength(1);
    expect(received[0].method).toBe('PUT');
    expect(received[0].headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-length': String(content.length),
      'x-nubo-caller-project': 'p1',
    });
    expect(received[0].body.equals(content)).toBe(true);
  });

  it('lets no signed header override the length or type', async () => {
    await uploadFile(file, { url, headers: { 'content-length': '1', 'content-type': 'text/plain' } });
    expect(received[0].headers).toMatchObject({ 'content-type': 'application/octet-stream', 'content-length': String(content.length) });
  });

  it('fails with the server message when refused before the body', async () => {
    answer = { status: 403, before: true, body: JSON.stringify({ code: 'forbidden', message: 'The internal signature is invalid or expired.' }) };
    const error = await uploadFile(file, { url, headers: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ status: 403, message: 'the upload was refused: HTTP 403: The internal signature is invalid or expired.' });
  });

  it('fails when the server refuses the data after reading it', async () => {
    answer = { status: 400, body: JSON.stringify({ message: 'image has a backing file' }) };
    await expect(uploadFile(file, { url, headers: {} })).rejects.toThrow(/HTTP 400: image has a backing file/);
  });

  it('fails when nothing listens', async () => {
    await expect(uploadFile(file, { url: 'http://127.0.0.1:1/x', headers: {} })).rejects.toThrow(/ECONNREFUSED/);
  });
});
