/**
 * The host's cache of base images: <dir>/<sha256>, one file per content, shared by every server
 * built on it. A file only appears under its final name once its size and sha256 were checked
 * (stream to a temp name, hash while streaming, fsync, rename), so a name in the cache is a proof.
 * Concurrent spawns that need one image cause one download (single-flight keyed by sha256).
 *
 * Eviction: a file's mtime is its last use. A lease (a spawn or start between fetching the image
 * and writing its overlay) pins it; `evict` touches the images that instances use and deletes the
 * others once older than the TTL. The check and the rename out of the way happen in one tick, so
 * a lease either pinned the file first or finds it gone and downloads it again.
 */
import { Logger } from '@nestjs/common';
import { ImageSource, InternalError } from '@nubo/contracts';
import { createHash, randomUUID } from 'node:crypto';
import { renameSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { IncomingMessage, get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { validateImageSource } from '../instance-spec';
import { ImageFormat, ImageInfo, qemuImgInfo } from './qemu-img';

export interface CachedImage {
  path: string;
  format: ImageSource['diskFormat'];
  virtualSize: number;
}

/** A cached image that stays on the host until released. */
export interface ImageLease extends CachedImage {
  release(): void;
}

const SHA256_NAME = /^[0-9a-f]{64}$/;

export interface ImageCacheOptions {
  dir: string;
  /** Inspects a cached file (default: `qemu-img info` under limits); injectable for unit tests. */
  inspect?: (path: string, format: ImageFormat) => Promise<ImageInfo>;
  /** The connection may sit idle this long before the download fails. */
  idleTimeoutMs?: number;
}

/** An image could not be fetched or is not fit to use; `details.operation` names the step. */
export class ImageCacheError extends InternalError {
  constructor(operation: 'download' | 'inspect', imageId: string, message: string) {
    super(`image ${operation} of ${imageId} failed: ${message}`, { operation, imageId });
  }
}

export class ImageCache {
  private readonly logger = new Logger(ImageCache.name);
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly pins = new Map<string, number>();
  /** Epoch ms of the last lease or release per image: a sweep that began earlier spares it. */
  private readonly lastTouched = new Map<string, number>();
  private readonly inspect: (path: string, format: ImageFormat) => Promise<ImageInfo>;
  /** Downloads started since this object was made (tests assert single-flight with it). */
  downloads = 0;

  constructor(private readonly options: ImageCacheOptions) {
    this.inspect = options.inspect ?? ((path, format) => qemuImgInfo(path, format));
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Where the image with this content lives (whether or not it is there yet). */
  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('not a sha256');
    return join(this.options.dir, sha256);
  }

  /** The image's file in the cache, downloaded if missing, inspected before every use. */
  async ensure(source: ImageSource): Promise<CachedImage> {
    const { release, ...image } = await this.lease(source);
    release();
    return image;
  }

  /**
   * Like `ensure`, and the file cannot be evicted until `release()`: hold it until what uses it
   * (an overlay, a spec naming it) is on disk.
   */
  async lease(source: ImageSource): Promise<ImageLease> {
    const image = validateImageSource(source);
    const sha = image.sha256;
    // Pinned before the first await: a sweep running now cannot take the file from under us.
    this.pins.set(sha, (this.pins.get(sha) ?? 0) + 1);
    this.lastTouched.set(sha, Date.now());
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.lastTouched.set(sha, Date.now());
      const left = (this.pins.get(sha) ?? 1) - 1;
      if (left > 0) this.pins.set(sha, left);
      else this.pins.delete(sha);
    };
    try {
      const path = await this.fetchOnce(image);
      const format: ImageFormat = image.diskFormat === 'qcow2' ? 'qcow2' : 'raw';
      let info: ImageInfo;
      try {
        info = await this.inspect(path, format);
      } catch (error) {
        throw new ImageCacheError('inspect', image.id, (error as Error).message);
      }
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
      return { path, format: image.diskFormat, virtualSize: info.virtualSize, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Base images in the cache now, and downloads since this object was made. */
  async stats(): Promise<{ images: number; downloads: number }> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    return { images: names.filter((n) => SHA256_NAME.test(n)).length, downloads: this.downloads };
  }

  /**
   * Deletes images unused for `ttlMs`: not in `inUse` (sha256s that instances on the host name),
   * not leased, not touched since the sweep began, and with an mtime older than the TTL. Images
   * in use get their mtime refreshed, so the TTL counts from the last sweep that saw them used.
   * Leftover partial downloads of a crashed agent go too. Returns the evicted sha256s.
   */
  async evict(options: { ttlMs: number; inUse: ReadonlySet<string>; startedAt?: number }): Promise<string[]> {
    const startedAt = options.startedAt ?? Date.now();
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    const evicted: string[] = [];
    for (const name of names) {
      const path = join(this.options.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) continue;
      const now = Date.now();
      if (!SHA256_NAME.test(name)) {
        // `.<sha>.<uuid>.part` of a download in flight is kept; older leftovers go.
        const sha = /^\.([0-9a-f]{64})\./.exec(name)?.[1];
        if (sha && !this.inflight.has(sha) && now - info.mtimeMs >= Math.max(options.ttlMs, 3_600_000)) await rm(path, { force: true });
        continue;
      }
      if (options.inUse.has(name)) {
        await utimes(path, new Date(now), new Date(now)).catch(() => undefined);
        continue;
      }
      if (now - info.mtimeMs < options.ttlMs) continue;
      // No await between this check and the rename: a lease cannot slip in between.
      if (this.pins.has(name) || this.inflight.has(name) || (this.lastTouched.get(name) ?? 0) >= startedAt) continue;
      const doomed = join(this.options.dir, `.${name}.${randomUUID()}.evict`);
      try {
        renameSync(path, doomed);
      } catch {
        continue;
      }
      this.lastTouched.delete(name);
      await rm(doomed, { force: true });
      evicted.push(name);
      this.logger.log(`evicted cached image sha256=${name} (unused for ${Math.round((now - info.mtimeMs) / 1000)} s)`);
    }
    return evicted;
  }

  private fetchOnce(image: ImageSource): Promise<string> {
    const running = this.inflight.get(image.sha256);
    if (running) return running;
    const task = this.fetch(image).finally(() => this.inflight.delete(image.sha256));
    this.inflight.set(image.sha256, task);
    return task;
  }

  private async fetch(image: ImageSource): Promise<string> {
    const path = this.pathOf(image.sha256);
    const existing = await stat(path).catch(() => undefined);
    if (existing?.size === image.sizeBytes) return path;
    if (existing) {
      this.logger.warn(`cached image ${image.sha256} has ${existing.size} bytes, not ${image.sizeBytes}; fetching it again`);
    }
    this.downloads++;
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.options.dir, `.${image.sha256}.${randomUUID()}.part`);
    const started = Date.now();
    try {
      await this.download(image, tmp);
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw new ImageCacheError('download', image.id, (error as Error).message);
    }
    this.logger.log(`cached image imageId=${image.id} sha256=${image.sha256} (${image.sizeBytes} bytes in ${Date.now() - started} ms)`);
    return path;
  }

  private async download(image: ImageSource, tmp: string): Promise<void> {
    const response = await request(new URL(image.url), this.options.idleTimeoutMs ?? 30_000);
    if (response.statusCode !== 200) {
      response.resume();
      throw new Error(`HTTP ${response.statusCode} from the image server`);
    }
    const declared = response.headers['content-length'];
    if (declared !== undefined && Number(declared) !== image.sizeBytes) {
      response.destroy();
      throw new Error(`the server announces ${declared} bytes, the image has ${image.sizeBytes}`);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const file = await open(tmp, 'wx', 0o600);
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > image.sizeBytes) throw new Error(`more than the ${image.sizeBytes} bytes expected`);
        hash.update(chunk);
        await file.write(chunk);
      }
      if (bytes !== image.sizeBytes) throw new Error(`got ${bytes} bytes, expected ${image.sizeBytes}`);
      const digest = hash.digest('hex');
      if (digest !== image.sha256) throw new Error(`sha256 mismatch: got ${digest}`);
      await file.sync();
    } finally {
      response.destroy();
      await file.close();
    }
  }
}

/** One GET, no redirects followed (the control plane signs the exact URL). */
function request(url: URL, idleTimeoutMs: number): Promise<IncomingMessage> {
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: idleTimeoutMs }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no data for ${idleTimeoutMs} ms`)));
    req.on('error', reject);
  });
}
