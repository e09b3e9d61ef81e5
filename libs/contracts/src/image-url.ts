/**
 * Signed requests to the image store's HTTP server, with a secret shared by the control plane
 * (NUBO_INTERNAL_SECRET). Two kinds, told apart inside the signed text so one cannot pass for the other:
 * - agent downloads: `GET /internal/images/<id>/file?expires=<epoch s>&sig=<hex>` (signImageUrl);
 * - API calls on behalf of a user: headers naming the caller's project and admin flag (signCallerHeaders).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ImageCaller } from './image.contract';

export const IMAGE_CALLER_HEADERS = {
  project: 'x-nubo-caller-project',
  admin: 'x-nubo-caller-admin',
  expires: 'x-nubo-caller-expires',
  signature: 'x-nubo-caller-signature',
} as const;

const hmac = (secret: string, parts: unknown[]) => createHmac('sha256', secret).update(JSON.stringify(parts)).digest('hex');

function sameHex(expected: string, given: string | undefined): boolean {
  if (typeof given !== 'string' || !/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given, 'hex'));
}

function unexpired(expires: string | undefined, now: number): number | null {
  if (typeof expires !== 'string' || !/^\d{1,12}$/.test(expires)) return null;
  const at = Number(expires);
  return at * 1000 >= now ? at : null;
}

/** A short-lived URL an agent can download an image's bytes from, with no other credentials. */
export function signImageUrl(baseUrl: string, imageId: string, secret: string, ttlSeconds: number, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const sig = hmac(secret, ['image-url', imageId, expires]);
  return `${baseUrl.replace(/\/+$/, '')}/internal/images/${encodeURIComponent(imageId)}/file?expires=${expires}&sig=${sig}`;
}

export function verifyImageUrl(imageId: string, expires: string | undefined, sig: string | undefined, secret: string, now = Date.now()): boolean {
  const at = unexpired(expires, now);
  return at !== null && sameHex(hmac(secret, ['image-url', imageId, at]), sig);
}

/** Headers that tell the image store who the API's caller is, for one image, for a few minutes. */
export function signCallerHeaders(caller: ImageCaller, imageId: string, secret: string, ttlSeconds = 300, now = Date.now()): Record<string, string> {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const admin = caller.isAdmin ? '1' : '0';
  return {
    [IMAGE_CALLER_HEADERS.project]: caller.projectId,
    [IMAGE_CALLER_HEADERS.admin]: admin,
    [IMAGE_CALLER_HEADERS.expires]: String(expires),
    [IMAGE_CALLER_HEADERS.signature]: hmac(secret, ['image-caller', caller.projectId, admin, imageId, expires]),
  };
}

/** The caller named by signed headers, or null when they are missing, expired, or not signed by `secret`. */
export function verifyCallerHeaders(
  headers: Record<string, string | string[] | undefined>,
  imageId: string,
  secret: string,
  now = Date.now(),
): ImageCaller | null {
  const one = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined);
  const projectId = one(IMAGE_CALLER_HEADERS.project);
  const admin = one(IMAGE_CALLER_HEADERS.admin);
  const at = unexpired(one(IMAGE_CALLER_HEADERS.expires), now);
  if (!projectId || (admin !== '0' && admin !== '1') || at === null) return null;
  if (!sameHex(hmac(secret, ['image-caller', projectId, admin, imageId, at]), one(IMAGE_CALLER_HEADERS.signature))) return null;
  return { projectId, isAdmin: admin === '1' };
}
