import { Logger } from '@nestjs/common';
import { ImageSource } from '@nubo/contracts';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache, ImageCacheError } from './image-cache';
import { UnsafeImageError } from './qemu-img';

const bytes = Buffer.from('a small image, served slowly enough for requests to overlap');
const sha256 = createHash('sha256').update(bytes).digest('hex');

describe(ImageCache.name, () => {
  let http: Server;
  let baseUrl: string;
  let dir: string;
  let requests: string[];
  /** What the server answers per path: bytes, or a status. */
  let routes: Record<string, Buffer | number>;

  const source = (over: Partial<ImageSource> = {}): ImageSource => ({
    id: 'img-1', sha256, sizeBytes: bytes.length, diskFormat: 'raw', url: `${baseUrl}/image`, ...over,
  });
  const inspect = jest.fn(async () => ({ format: 'raw', virtualSize: 4096 }));
  const leftovers = () => (existsSync(dir) ? readdirSync(dir) : []);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    http = createServer((req, res) => {
      requests.push(req.url ?? '');
      const route = routes[req.url ?? ''];
      if (typeof route === 'number' || !route) return void res.writeHead(route ?? 404).end();
      // Two halves with a pause between: concurrent callers overlap with the download.
      // /chunked/...: no content-length, so only the byte count can catch a long body.
      res.writeHead(200, req.url?.startsWith('/chunked/') ? {} : { 'content-length': route.length });
      res.write(route.subarray(0, 10));
      setTimeout(() => res.end(route.subarray(10)), 30);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'nubo-cache-')), 'images');
    requests = [];
    routes = { '/image': bytes };
    inspect.mockClear();
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  describe('ensure', () => {
    it('downloads once for concurrent callers (single-flight) and names the file by its sha256', async () => {
      const cache = new ImageCache({ dir, inspect });
      const results = await Promise.all([cache.ensure(source()), cache.ensure(source()), cache.ensure(source({ id: 'img-2' }))]);
      expect(cache.downloads).toBe(1);
      expect(requests).toEqual(['/image']);
      expect(results.map((r) => r.path)).toEqual(Array(3).fill(join(dir, sha256)));
      expect(results[0]).toEqual({ path: join(dir, sha256), format: 'raw', virtualSize: 4096 });
      expect(readFileSync(join(dir, sha256)).equals(bytes)).toBe(true);
      expect(leftovers()).toEqual([sha256]);
      // Every use is inspected, downloaded or not.
      expect(inspect).toHaveBeenCalledTimes(3);
      expect(inspect).toHaveBeenCalledWith(join(dir, sha256), 'raw');
    });

    it('uses a cached file without downloading it again', async () => {
      const cache = new ImageCache({ dir, inspect });
      await cache.ensure(source());
      await cache.ensure(source());
      expect(cache.downloads).toBe(1);
      expect(requests).toHaveLength(1);
    });

    it('fetches again a cached file of the wrong size (a damaged cache)', async () => {
      const cache = new ImageCache({ dir, inspect });
      await cache.ensure(source());
      writeFileSync(join(dir, sha256), 'short');
      await cache.ensure(source());
      expect(cache.downloads).toBe(2);
      expect(readFileSync(join(dir, sha256)).equals(bytes)).toBe(true);
    });

    it.each([
      ['a wrong sha256', () => source({ sha256: 'b'.repeat(64) }), /sha256 mismatch/],
      ['more bytes than announced', () => source({ sizeBytes: bytes.length - 1 }), /announces/],
      ['an HTTP error', () => source({ url: `${baseUrl}/missing` }), /HTTP 404/],
      ['a server that refuses connections', () => source({ url: 'http://127.0.0.1:1/image' }), /ECONNREFUSED/],
    ])('refuses %s and leaves no file behind', async (_what, make, message) => {
      const cache = new ImageCache({ dir, inspect });
      const error = await cache.ensure(make()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageCacheError);
      expect((error as Error).message).toMatch(message);
      expect((error as ImageCacheError).details).toMatchObject({ operation: 'download', imageId: 'img-1' });
      expect(leftovers()).toEqual([]);
      expect(inspect).not.toHaveBeenCalled();
    });

    it('refuses a body longer than the image when no content-length warns of it', async () => {
      routes['/chunked/image'] = Buffer.concat([bytes, Buffer.from('trailing')]);
      const cache = new ImageCache({ dir, inspect });
      await expect(cache.ensure(source({ url: `${baseUrl}/chunked/image` }))).rejects.toThrow(/more than the \d+ bytes expected/);
      expect(leftovers()).toEqual([]);
    });

    it('lets the next caller try again after a failed download', async () => {
      routes['/image'] = 503;
      const cache = new ImageCache({ dir, inspect });
      await expect(cache.ensure(source())).rejects.toThrow(/HTTP 503/);
      routes['/image'] = bytes;
      await expect(cache.ensure(source())).resolves.toMatchObject({ path: join(dir, sha256) });
      expect(cache.downloads).toBe(2);
    });

    it('refuses an image the inspection finds unsafe', async () => {
      const unsafe = jest.fn(async () => {
        throw new UnsafeImageError('image has a backing file');
      });
      const cache = new ImageCache({ dir, inspect: unsafe });
      await expect(cache.ensure(source({ diskFormat: 'qcow2' }))).rejects.toMatchObject({
        message: expect.stringMatching(/image inspect of img-1 failed: image has a backing file/),
        details: { operation: 'inspect', imageId: 'img-1' },
      });
      expect(unsafe).toHaveBeenCalledWith(join(dir, sha256), 'qcow2');
    });

    it('inspects an ISO as raw bytes', async () => {
      const cache = new ImageCache({ dir, inspect });
      await expect(cache.ensure(source({ diskFormat: 'iso' }))).resolves.toMatchObject({ format: 'iso' });
      expect(inspect).toHaveBeenCalledWith(join(dir, sha256), 'raw');
    });
  });

  describe('evict', () => {
    const other = 'c'.repeat(64);
    const dayAgo = () => new Date(Date.now() - 86_400_000);
    /** A cached file last used a day ago (evict reads the mtime as the last use). */
    const aged = (name: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), 'x');
      utimesSync(join(dir, name), dayAgo(), dayAgo());
    };

    it('deletes an image unused for the TTL and keeps one an instance uses, refreshing its clock', async () => {
      aged(sha256);
      aged(other);
      const cache = new ImageCache({ dir, inspect });
      await expect(cache.evict({ ttlMs: 3_600_000, inUse: new Set([other]) })).resolves.toEqual([sha256]);
      expect(leftovers()).toEqual([other]);
      expect(Date.now() - statSync(join(dir, other)).mtimeMs).toBeLessThan(60_000);
    });

    it('keeps an unused image younger than the TTL', async () => {
      const cache = new ImageCache({ dir, inspect });
      await cache.ensure(source());
      await expect(cache.evict({ ttlMs: 3_600_000, inUse: new Set() })).resolves.toEqual([]);
      expect(leftovers()).toEqual([sha256]);
    });

    it('never deletes a leased image, even with a TTL of 0; once released, the next sweep does', async () => {
      const cache = new ImageCache({ dir, inspect });
      const lease = await cache.lease(source());
      await expect(cache.evict({ ttlMs: 0, inUse: new Set() })).resolves.toEqual([]);
      lease.release();
      lease.release(); // idempotent: one lease, one pin
      await new Promise((resolve) => setTimeout(resolve, 5));
      await expect(cache.evict({ ttlMs: 0, inUse: new Set() })).resolves.toEqual([sha256]);
      expect(leftovers()).toEqual([]);
    });

    it('spares an image leased after the sweep began (its instance may not be on disk yet)', async () => {
      const cache = new ImageCache({ dir, inspect });
      const startedAt = Date.now();
      (await cache.lease(source())).release();
      await expect(cache.evict({ ttlMs: 0, inUse: new Set(), startedAt })).resolves.toEqual([]);
    });

    it('downloads an evicted image again on its next use, and counts both downloads', async () => {
      const cache = new ImageCache({ dir, inspect });
      (await cache.lease(source())).release();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await cache.evict({ ttlMs: 0, inUse: new Set() });
      await expect(cache.stats()).resolves.toEqual({ images: 0, downloads: 1 });
      await cache.ensure(source());
      await expect(cache.stats()).resolves.toEqual({ images: 1, downloads: 2 });
    });

    it('removes an old partial download left by a crashed agent, but no file of another kind', async () => {
      aged(`.${sha256}.0000.part`);
      aged('README');
      const cache = new ImageCache({ dir, inspect });
      await cache.evict({ ttlMs: 0, inUse: new Set() });
      expect(leftovers()).toEqual(['README']);
    });
  });
});
