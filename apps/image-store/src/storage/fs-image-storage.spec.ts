import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { FsImageStorage } from './fs-image-storage';
import { UploadIncompleteError, UploadTooLargeError } from './image-storage';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const read = async (s: Readable) => Buffer.concat(await s.toArray());

describe(FsImageStorage.name, () => {
  let root: string;
  let storage: FsImageStorage;
  const tmpFiles = () => readdirSync(join(root, 'tmp'));
  const storedFiles = () => readdirSync(join(root, 'sha256'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'nubo-images-'));
    storage = new FsImageStorage(root);
    await storage.init();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('stages with hashes and size, commits under the sha256, reads whole or by range', async () => {
    const data = Buffer.from('0123456789'.repeat(1000));
    const staged = await storage.stage(Readable.from([data.subarray(0, 3000), data.subarray(3000)]), { maxBytes: 1e6, expectedBytes: data.length });
    expect(staged).toMatchObject({ size: data.length, sha256: sha(data), md5: md5(data) });
    const key = await storage.commit(staged);
    expect(key).toBe(sha(data));
    expect(tmpFiles()).toEqual([]);
    expect(await storage.size(key)).toBe(data.length);
    expect((await read(storage.read(key))).equals(data)).toBe(true);
    expect((await read(storage.read(key, { start: 10, end: 19 }))).toString()).toBe('0123456789');
  });

  it('stores identical content once', async () => {
    const data = Buffer.from('same bytes');
    const a = await storage.commit(await storage.stage(Readable.from([data]), { maxBytes: 100 }));
    const b = await storage.commit(await storage.stage(Readable.from([data]), { maxBytes: 100 }));
    expect(a).toBe(b);
    expect(storedFiles()).toEqual([a]);
  });

  it('refuses a body announced past the cap before reading it', async () => {
    await expect(storage.stage(Readable.from([Buffer.alloc(1)]), { maxBytes: 10, expectedBytes: 11 })).rejects.toBeInstanceOf(UploadTooLargeError);
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses a body that grows past the cap while streaming, leaving nothing, without destroying the source', async () => {
    const source = new PassThrough();
    const staging = storage.stage(source, { maxBytes: 10 });
    source.write(Buffer.alloc(8));
    source.write(Buffer.alloc(8));
    await expect(staging).rejects.toBeInstanceOf(UploadTooLargeError);
    expect(source.destroyed).toBe(false);
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses a body that breaks off, leaving nothing', async () => {
    const source = new PassThrough();
    const staging = storage.stage(source, { maxBytes: 100, expectedBytes: 50 });
    source.write(Buffer.alloc(20));
    setTimeout(() => source.destroy(new Error('aborted')), 20);
    await expect(staging).rejects.toBeInstanceOf(UploadIncompleteError);
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses a body shorter than announced', async () => {
    await expect(storage.stage(Readable.from([Buffer.alloc(5)]), { maxBytes: 100, expectedBytes: 6 })).rejects.toThrow(/5 bytes, 6 were announced/);
    expect(tmpFiles()).toEqual([]);
  });

  it('discards staged bytes and removes files idempotently', async () => {
    const staged = await storage.stage(Readable.from([Buffer.from('x')]), { maxBytes: 100 });
    await storage.discard(staged);
    expect(tmpFiles()).toEqual([]);
    const key = await storage.commit(await storage.stage(Readable.from([Buffer.from('y')]), { maxBytes: 100 }));
    await storage.remove(key);
    await storage.remove(key);
    expect(await storage.size(key)).toBeNull();
  });

  it('stages a file written in the staging area in place, and refuses one past the cap or elsewhere', async () => {
    const data = Buffer.from('converted bytes');
    const path = storage.stagingPath('.convert');
    writeFileSync(path, data);
    const staged = await storage.stageFile(path, { maxBytes: 100 });
    expect(staged).toEqual({ path, size: data.length, sha256: sha(data), md5: md5(data) });
    const key = await storage.commit(staged);
    expect(storage.localPath(key)).toBe(join(root, 'sha256', key.slice(0, 2), key));
    expect(readFileSync(storage.localPath(key)).equals(data)).toBe(true);

    const big = storage.stagingPath('.convert');
    writeFileSync(big, Buffer.alloc(101));
    await expect(storage.stageFile(big, { maxBytes: 100 })).rejects.toBeInstanceOf(UploadTooLargeError);
    await expect(storage.stageFile(join(root, 'elsewhere'), { maxBytes: 100 })).rejects.toThrow(/staging area/);
    expect(() => storage.stagingPath('/../x')).toThrow(/invalid staging suffix/);
  });

  it('refuses keys that are not sha256 digests', () => {
    expect(() => storage.read('../../etc/passwd')).toThrow(/invalid image file key/);
  });
});
