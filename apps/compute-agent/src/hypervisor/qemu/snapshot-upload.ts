/**
 * PUTs a file to the image store (or any HTTP server) as one request with a known length:
 * `Expect: 100-continue`, so a refusal (wrong status, bad signature, too large) answers before a
 * byte of the body travels. The URL and headers come signed from the control plane; no redirect
 * is followed.
 */
import { SnapshotUpload } from '@nubo/contracts';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const MAX_ERROR_BODY = 4096;

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface UploadOptions {
  /** The connection may sit idle this long before the upload fails. */
  idleTimeoutMs?: number;
}

/** Resolves with the bytes sent once the server answered 2xx; rejects with `UploadError` otherwise. */
export async function uploadFile(path: string, target: SnapshotUpload, options: UploadOptions = {}): Promise<number> {
  const { size } = await stat(path);
  const url = new URL(target.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = {
    ...target.headers,
    'content-type': 'application/octet-stream',
    'content-length': String(size),
    expect: '100-continue',
  };
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const req = send(url, { method: 'PUT', headers, timeout: options.idleTimeoutMs ?? 60_000 });
    const body = createReadStream(path);
    body.on('error', (error) => req.destroy(error));
    req.on('continue', () => body.pipe(req));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        res.resume();
        settle(() => resolve(size));
        return;
      }
      body.unpipe(req);
      body.destroy();
      void errorText(res).then((text) => {
        req.destroy();
        settle(() => reject(new UploadError(`the upload was refused: HTTP ${status}${text ? `: ${text}` : ''}`, status)));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no progress for ${options.idleTimeoutMs ?? 60_000} ms`)));
    req.on('error', (error) => {
      body.destroy();
      settle(() => reject(new UploadError(`the upload failed: ${error.message}`)));
    });
    req.flushHeaders();
  });
}

/** The server's `message` (the image store answers `{code, message}`), or the start of its body. */
async function errorText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      chunks.push(chunk);
      if (size >= MAX_ERROR_BODY) break;
    }
  } catch {
    // cut off: the status says enough
  }
  const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8');
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}
