/**
 * Image bytes on a filesystem: `<root>/sha256/<first two hex>/<sha256>`, staged in `<root>/tmp`
 * (same filesystem, so commit is a rename). Files are fsynced before they are committed.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteRange, ImageStorage, StagedUpload, UploadIncompleteError, UploadTooLargeError } from './image-storage';

const KEY = /^[0-9a-f]{64}$/;
const STALE_TMP_MS = 24 * 3600_000;

export class FsImageStorage implements ImageStorage {
  constructor(private readonly root: string) {}

  async init(): Promise<void> {
    await mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o750 });
    await mkdir(join(this.root, 'sha256'), { recursive: true, mode: 0o750 });
    // Leftovers of a process that died mid-upload; fresh ones may belong to a live replica.
    for (const name of await readdir(join(this.root, 'tmp'))) {
      const path = join(this.root, 'tmp', name);
      const info = await stat(path).catch(() => null);
      if (info && Date.now() - info.mtimeMs > STALE_TMP_MS) await rm(path, { force: true });
    }
  }

  /**
   * The source is never destroyed here: on a refusal the caller still answers on its connection.
   * The source must emit 'error' or 'close' if it breaks (an IncomingMessage does).
   */
  async stage(source: Readable, options: { maxBytes: number; expectedBytes?: number }): Promise<StagedUpload> {
    if (options.expectedBytes !== undefined && options.expectedBytes > options.maxBytes) throw new UploadTooLargeError(options.maxBytes);
    const path = join(this.root, 'tmp', `${randomUUID()}.part`);
    // flush: fsync before close, so a committed file survives a crash.
    const file = createWriteStream(path, { flags: 'wx', mode: 0o640, flush: true });
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > options.maxBytes) return done(new UploadTooLargeError(options.maxBytes));
        sha256.update(chunk);
        md5.update(chunk);
        done(null, chunk);
      },
    });
    const broken = (error?: Error) => meter.destroy(error ?? new UploadIncompleteError('upload ended before the body was complete'));
    const onClose = () => {
      if (!source.readableEnded) broken();
    };
    source.on('error', broken);
    source.on('close', onClose);
    source.pipe(meter);
    try {
      await pipeline(meter, file);
      if (options.expectedBytes !== undefined && size !== options.expectedBytes) {
        throw new UploadIncompleteError(`upload has ${size} bytes, ${options.expectedBytes} were announced`);
      }
    } catch (error) {
      source.unpipe(meter);
      // Wait for the open to finish too, so that no file appears after the rm.
      await new Promise<void>((resolve) => (file.closed ? resolve() : (file.once('close', () => resolve()), file.destroy())));
      await rm(path, { force: true });
      if (error instanceof UploadTooLargeError || error instanceof UploadIncompleteError) throw error;
      throw new UploadIncompleteError(`upload failed: ${(error as Error).message}`);
    } finally {
      source.off('error', broken);
      source.off('close', onClose);
    }
    return { path, size, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
  }

  stagingPath(suffix: string): string {
    if (!/^[.a-z0-9-]{0,16}$/.test(suffix)) throw new Error(`invalid staging suffix ${JSON.stringify(suffix)}`);
    return join(this.root, 'tmp', `${randomUUID()}${suffix}`);
  }

  async stageFile(path: string, options: { maxBytes: number }): Promise<StagedUpload> {
    if (dirname(path) !== join(this.root, 'tmp')) throw new Error('only files in the staging area can be staged');
    const info = await stat(path);
    if (info.size > options.maxBytes) throw new UploadTooLargeError(options.maxBytes);
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    let size = 0;
    for await (const chunk of createReadStream(path)) {
      size += (chunk as Buffer).length;
      sha256.update(chunk as Buffer);
      md5.update(chunk as Buffer);
    }
    // fsync, as stage() does with its flush, so a committed file survives a crash.
    const file = await open(path, 'r');
    await file.sync().finally(() => file.close());
    return { path, size, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  async commit(staged: StagedUpload): Promise<string> {
    const key = staged.sha256;
    await mkdir(join(this.root, 'sha256', key.slice(0, 2)), { recursive: true, mode: 0o750 });
    // Identical bytes may be there already: replacing them with the same content is harmless,
    // and readers of the old inode keep reading it.
    await rename(staged.path, this.pathOf(key));
    const dir = await open(join(this.root, 'sha256', key.slice(0, 2)), 'r');
    await dir.sync().finally(() => dir.close());
    return key;
  }

  async discard(staged: StagedUpload): Promise<void> {
    await rm(staged.path, { force: true });
  }

  async size(key: string): Promise<number | null> {
    const info = await stat(this.pathOf(key)).catch(() => null);
    return info ? info.size : null;
  }

  read(key: string, range?: ByteRange): Readable {
    return createReadStream(this.pathOf(key), range ? { start: range.start, end: range.end } : {});
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  private pathOf(key: string): string {
    if (!KEY.test(key)) throw new Error(`invalid image file key ${JSON.stringify(key)}`);
    return join(this.root, 'sha256', key.slice(0, 2), key);
  }
}
