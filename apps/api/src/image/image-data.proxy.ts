/**
 * Streams image data between the caller and the image store's HTTP server: bodies are piped,
 * never buffered. The caller's project and admin flag travel in headers signed with
 * NUBO_INTERNAL_SECRET. The image store's refusals come back as domain errors where they have a
 * code, else with their own HTTP status (413, 410, ...).
 */
import { HttpException, Inject, Injectable } from '@nestjs/common';
import { ErrorCode, ImageCaller, REQUEST_ID_HEADER, TimeoutError, fromWire, signCallerHeaders } from '@nubo/contracts';
import { IncomingMessage, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { API_CONFIG, ApiConfig } from '../config';

const PASSED_DOWNLOAD_HEADERS = ['content-type', 'content-length', 'content-md5', 'content-range', 'accept-ranges'];
const MAX_ERROR_BODY = 64 * 1024;

async function errorFrom(res: IncomingMessage): Promise<Error> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > MAX_ERROR_BODY) break;
      chunks.push(chunk as Buffer);
    }
  } catch {
    // cut off: the status says enough
  }
  let body: { code?: string; message?: string } = {};
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    // not JSON: the status says enough
  }
  const message = body.message ?? `image store answered ${res.statusCode}`;
  if (body.code && (Object.values(ErrorCode) as string[]).includes(body.code) && body.code !== ErrorCode.Internal) {
    return fromWire({ code: body.code, message });
  }
  return new HttpException({ message }, res.statusCode ?? 500);
}

@Injectable()
export class ImageDataProxy {
  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  private open(method: 'PUT' | 'GET', imageId: string, caller: ImageCaller, headers: Record<string, string>) {
    const url = new URL(`/v2/images/${encodeURIComponent(imageId)}/file`, this.config.NUBO_IMAGE_URL);
    const send = url.protocol === 'https:' ? httpsRequest : request;
    return send(url, { method, headers: { ...headers, ...signCallerHeaders(caller, imageId, this.config.NUBO_INTERNAL_SECRET) } });
  }

  /** PUT .../file: resolves when the image store has stored, inspected and activated the data. */
  upload(req: Request, imageId: string, caller: ImageCaller, requestId: string): Promise<void> {
    // 100-continue: the image store refuses (404, 409, 413 by length, ...) before any byte is sent.
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', expect: '100-continue', [REQUEST_ID_HEADER]: requestId };
    const length = req.headers['content-length'];
    if (length !== undefined) headers['content-length'] = length;
    const upstream = this.open('PUT', imageId, caller, headers);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (!settled) {
          settled = true;
          fn();
        }
      };
      upstream.on('response', (res) => {
        if ((res.statusCode ?? 500) < 300) {
          res.resume();
          settle(resolve);
          return;
        }
        // Refused before the whole body went through: stop forwarding, and read the rest of the
        // caller's body so that a client that sends everything first still gets the answer.
        req.unpipe(upstream);
        if (!req.complete) req.resume();
        void errorFrom(res).then((error) => {
          upstream.destroy();
          settle(() => reject(error));
        });
      });
      upstream.on('error', (error: NodeJS.ErrnoException) =>
        settle(() => reject(new TimeoutError(`the image store could not take the upload: ${error.message}`, { imageId }))),
      );
      // A caller that goes away mid-upload must not leave a half-written image behind.
      req.on('close', () => {
        if (!req.complete) upstream.destroy(new Error('the caller went away during the upload'));
      });
      upstream.on('continue', () => req.pipe(upstream));
      upstream.flushHeaders();
    });
  }

  /** GET .../file: answers the caller with the image store's status, headers and body. */
  async download(req: Request, res: Response, imageId: string, caller: ImageCaller, requestId: string): Promise<void> {
    const headers: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
    if (typeof req.headers.range === 'string') headers.range = req.headers.range;
    const upstream = this.open('GET', imageId, caller, headers);
    const reply = await new Promise<IncomingMessage>((resolve, reject) => {
      upstream.on('response', resolve);
      upstream.on('error', (error) => reject(new TimeoutError(`the image store did not answer: ${error.message}`, { imageId })));
      upstream.end();
    });
    if ((reply.statusCode ?? 500) >= 400 && reply.statusCode !== 416) throw await errorFrom(reply);
    res.statusCode = reply.statusCode ?? 200;
    for (const name of PASSED_DOWNLOAD_HEADERS) {
      const value = reply.headers[name];
      if (value !== undefined) res.setHeader(name, value);
    }
    if (reply.statusCode === 416) res.setHeader('content-range', String(reply.headers['content-range'] ?? ''));
    // A caller that goes away destroys the reply, which closes the connection to the image store.
    await pipeline(reply, res).catch(() => undefined);
  }
}
