/**
 * Test harness: the image store in-process against real PostgreSQL and NATS, with its HTTP server
 * on an ephemeral port. Its NATS subjects get a unique prefix so that another image store on the
 * same NATS (an e2e cloud) never answers the test's calls.
 */
import { NestFactory } from '@nestjs/core';
import { ImageCaller, ImageOps, QUEUES, ReplyOf, RequestOf, RpcContract, signCallerHeaders } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { HandlerContext, RpcClient, RpcServer } from '@nubo/messaging';
import { INestMicroservice } from '@nestjs/common';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { ImageConfig } from './config';
import { ImageHttpServer } from './http/image-http.server';
import { ImageStoreModule } from './image-store.module';

class PrefixedRpcServer extends RpcServer {
  constructor(
    private readonly prefix: string,
    url: string,
  ) {
    super({ url, name: 'image-store-it', queue: `image-store-it-${prefix}` });
  }

  override handle<C extends RpcContract<any, any>>(subject: string, contract: C, fn: (r: RequestOf<C>, ctx: HandlerContext) => Promise<ReplyOf<C>>): void {
    super.handle(`${this.prefix}.${subject}`, contract, fn);
  }
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export const SECRET = 'integration-secret-'.padEnd(40, 'x');

export class ImageStoreHarness {
  readonly prefix = `it${randomUUID().slice(0, 8)}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'nubo-image-store-it-'));
  db!: DataSource;
  private app!: INestMicroservice;
  private client!: RpcClient;
  private redisUrl?: string;
  port = 0;

  constructor(private readonly limits: { maxBytes: number; maxVirtualBytes: number; quotaCount?: number; quotaBytes?: number }) {}

  /** Redis is needed for the image jobs; its keys get the harness's own prefix (`bull-<prefix>`). */
  async start(databaseUrl: string, natsUrl: string, redisUrl: string): Promise<void> {
    const migrator = createDataSource({ url: databaseUrl, schemas: ['image'], applicationName: 'image-store-it-migrate' });
    await migrator.initialize();
    await migrateLocked(migrator);
    await migrator.destroy();
    const config: ImageConfig = {
      NUBO_DATABASE_URL: databaseUrl,
      NUBO_NATS_URL: natsUrl,
      NUBO_REDIS_URL: redisUrl,
      // The cloud name prefixes the BullMQ keys: no other image store takes this harness's jobs.
      NUBO_CLOUD_NAME: this.prefix,
      NUBO_LOG_LEVEL: 'error',
      NUBO_HEALTH_PORT: 0,
      NUBO_INTERNAL_SECRET: SECRET,
      NUBO_IMAGE_HTTP_HOST: '127.0.0.1',
      NUBO_IMAGE_HTTP_PORT: 0,
      NUBO_IMAGE_DIR: join(this.dir, 'images'),
      NUBO_STATE_DIR: this.dir,
      NUBO_IMAGE_MAX_BYTES: this.limits.maxBytes,
      NUBO_IMAGE_MAX_VIRTUAL_BYTES: this.limits.maxVirtualBytes,
      NUBO_IMAGE_QUOTA_COUNT: this.limits.quotaCount ?? 1000,
      NUBO_IMAGE_QUOTA_BYTES: this.limits.quotaBytes ?? 1024 ** 4,
      NUBO_IMAGE_CONVERT_CONCURRENCY: 2,
      NUBO_IMAGE_CONVERT_CPU_S: 60,
      NUBO_IMAGE_CONVERT_TIMEOUT_S: 120,
    };
    this.redisUrl = redisUrl;
    const rpcServer = new PrefixedRpcServer(this.prefix, natsUrl);
    this.app = await NestFactory.createMicroservice(ImageStoreModule.register(config, rpcServer), { strategy: rpcServer, logger: ['error'] });
    await this.app.listen();
    this.port = this.app.get(ImageHttpServer).port();
    this.db = this.app.get(DataSource);
    this.client = new RpcClient({ url: natsUrl, name: 'image-store-it-client' });
    await this.client.connect();
  }

  async stop(projectPrefix: string): Promise<void> {
    await this.client?.close();
    // Members go with their images (ON DELETE CASCADE).
    if (this.db) await this.db.query(`DELETE FROM image.images WHERE project_id LIKE $1`, [`${projectPrefix}%`]);
    await this.app?.close();
    if (this.redisUrl) {
      const queue = new Queue(QUEUES.images, { connection: { url: this.redisUrl }, prefix: `bull-${this.prefix}` });
      await queue.obliterate({ force: true });
      await queue.close();
    }
    if (this.db?.isInitialized) await this.db.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  call<K extends keyof typeof ImageOps>(op: K, req: RequestOf<(typeof ImageOps)[K]>): Promise<ReplyOf<(typeof ImageOps)[K]>> {
    const contract = ImageOps[op] as RpcContract<unknown, unknown>;
    return this.client.call(`${this.prefix}.image.${contract.op}`, contract, req, { requestId: `req-it-${op}` }) as Promise<ReplyOf<(typeof ImageOps)[K]>>;
  }

  /** Files under the store's directory: committed (sha256/..) and staged (tmp/). */
  files(): { stored: string[]; staged: string[] } {
    const list = (sub: string) =>
      readdirSync(join(this.dir, 'images', sub), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
    return { stored: list('sha256'), staged: list('tmp') };
  }

  http(method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer | Readable } = {}): Promise<HttpReply> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, method, path, headers: options.headers ?? {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (options.body instanceof Readable) options.body.pipe(req);
      else req.end(options.body);
    });
  }

  upload(imageId: string, caller: ImageCaller, body: Buffer | Readable, headers: Record<string, string> = {}): Promise<HttpReply> {
    const length: Record<string, string> = Buffer.isBuffer(body) ? { 'content-length': String(body.length) } : {};
    return this.http('PUT', `/v2/images/${imageId}/file`, {
      headers: { 'content-type': 'application/octet-stream', ...length, ...signCallerHeaders(caller, imageId, SECRET), ...headers },
      body,
    });
  }

  download(imageId: string, caller: ImageCaller, headers: Record<string, string> = {}): Promise<HttpReply> {
    return this.http('GET', `/v2/images/${imageId}/file`, { headers: { ...signCallerHeaders(caller, imageId, SECRET), ...headers } });
  }
}
