/**
 * The image store's HTTP server, for bytes only (metadata goes over NATS):
 *   PUT /v2/images/{id}/file             upload, on behalf of the caller named by signed headers
 *   GET /v2/images/{id}/file             download, likewise (Range: one range, 206)
 *   GET /internal/images/{id}/file?expires=&sig=   agents' downloads through signed URLs
 * Errors answer `{code, message}` with their HTTP status; the API turns them into Glance's shape.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ErrorCode, NuboError, REQUEST_ID_HEADER, verifyCallerHeaders, verifyImageUrl } from '@nubo/contracts';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IMAGE_CONFIG, ImageConfig } from '../config';
import { UploadIncompleteError, UploadTooLargeError } from '../storage/image-storage';
import { HttpStatusError } from './http-status.error';
import { ImageBytesService } from './image-bytes.service';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.Authentication]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.Timeout]: 503,
};

const DRAIN_GRACE_MS = 5_000;
const ROUTE = /^\/(v2|internal)\/images\/([^/?]+)\/file$/;

@Injectable()
export class ImageHttpServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ImageHttpServer.name);
  private server?: Server;

  constructor(
    @Inject(IMAGE_CONFIG) private readonly config: ImageConfig,
    @Inject(ImageBytesService) private readonly bytes: ImageBytesService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((req, res) => void this.route(req, res));
    // The API sends uploads with `Expect: 100-continue`: a refusal (404, 409, 413 by length, ...)
    // then answers before a single byte of the body travels.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void this.route(req, res));
    // Uploads of many GiB take longer than Node's default 5-minute request limit.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.NUBO_IMAGE_HTTP_PORT, this.config.NUBO_IMAGE_HTTP_HOST, resolve);
    });
    this.server = server;
    this.logger.log(`image data on http://${this.config.NUBO_IMAGE_HTTP_HOST}:${this.port()}`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Stream errors are handled where the body is read; this keeps a late one from crashing us.
    req.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://image-store');
    const match = ROUTE.exec(url.pathname);
    const requestId = String(req.headers[REQUEST_ID_HEADER] ?? '-');
    try {
      if (!match) throw new HttpStatusError(404, 'Not found');
      const [, scope, rawId] = match;
      let imageId: string;
      try {
        imageId = decodeURIComponent(rawId);
      } catch {
        throw new HttpStatusError(404, 'Not found');
      }
      if (scope === 'internal') {
        if (req.method !== 'GET') throw new HttpStatusError(405, 'Method not allowed');
        const ok = verifyImageUrl(imageId, url.searchParams.get('expires') ?? undefined, url.searchParams.get('sig') ?? undefined, this.config.NUBO_INTERNAL_SECRET);
        if (!ok) throw new HttpStatusError(403, 'The download URL is invalid or expired.');
        return await this.bytes.internalDownload(req, res, imageId);
      }
      const caller = verifyCallerHeaders(req.headers, imageId, this.config.NUBO_INTERNAL_SECRET);
      if (!caller) throw new HttpStatusError(403, 'The internal signature is invalid or expired.');
      if (req.method === 'PUT') {
        await this.bytes.upload(req, imageId, caller, requestId, () => {
          if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
        });
        res.writeHead(204).end();
        return;
      }
      if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
      if (req.method === 'GET') return await this.bytes.download(req, res, imageId, caller);
      throw new HttpStatusError(405, 'Method not allowed');
    } catch (error) {
      this.fail(req, res, error, requestId);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, error: unknown, requestId: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    let status = 500;
    let code: string = ErrorCode.Internal;
    let message = 'An unexpected error prevented the image store from fulfilling the request.';
    if (error instanceof NuboError) [status, code, message] = [STATUS[error.code] ?? 500, error.code, error.message];
    else if (error instanceof UploadTooLargeError) [status, code, message] = [413, 'too_large', error.message];
    else if (error instanceof UploadIncompleteError) [status, code, message] = [400, ErrorCode.Validation, error.message];
    else if (error instanceof HttpStatusError) [status, message] = [error.status, error.message];
    if (status >= 500) this.logger.error(`${req.method} ${req.url} -> ${status} requestId=${requestId}: ${(error as Error).stack ?? error}`);
    // A sender still writing a body we refused gets the answer while we drain what it sends (so
    // that it reads the answer, not a broken pipe); one that goes on past a grace period is cut off.
    if (!req.complete && !req.readableFlowing) req.resume();
    res.on('finish', () => {
      if (!req.complete) setTimeout(() => req.complete || req.socket.destroy(), DRAIN_GRACE_MS).unref();
    });
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message }));
  }
}
