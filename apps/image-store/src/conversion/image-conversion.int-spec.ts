/**
 * Conversions as BullMQ jobs against real PostgreSQL, NATS, Redis and qemu-img: the new image
 * holds exactly what a direct `qemu-img convert` of the same source gives, stored like an upload;
 * a conversion that fails leaves the image killed with the reason, and no file.
 */
import { ConflictError, ForbiddenError, ImageConversionRecord, NotFoundError, ValidationError } from '@nubo/contracts';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStoreHarness } from '../image-store-harness';

const databaseUrl = process.env.NUBO_DATABASE_URL;
const natsUrl = process.env.NUBO_NATS_URL;
const redisUrl = process.env.NUBO_REDIS_URL;
const run = databaseUrl && natsUrl && redisUrl ? describe : describe.skip;
const DISK = 4 * 1024 * 1024;

run('image conversion', () => {
  const tag = `itc-${randomUUID().slice(0, 8)}`;
  const owner = { projectId: `${tag}-owner`, isAdmin: false };
  const other = { projectId: `${tag}-other`, isAdmin: false };
  const admin = { projectId: `${tag}-admin`, isAdmin: true };
  const store = new ImageStoreHarness({ maxBytes: 16 * 1024 * 1024, maxVirtualBytes: 1024 ** 3 });
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const path = (name: string) => join(store.dir, name);
  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: store.dir, stdio: 'ignore' });

  /** An active image of `owner` holding the file `name`. */
  async function imageOf(name: string, diskFormat: 'raw' | 'qcow2', body: Record<string, unknown> = {}): Promise<string> {
    const image = await store.call('create', { caller: owner, body: { name: `${tag}-${name}`, disk_format: diskFormat, container_format: 'bare', ...body } });
    expect((await store.upload(image.id, owner, readFileSync(path(name)))).status).toBe(204);
    return image.id;
  }

  async function finished(imageId: string, caller = owner): Promise<ImageConversionRecord> {
    const until = Date.now() + 30_000;
    for (;;) {
      const record = await store.call('conversion', { caller, imageId });
      if (record.status === 'done' || record.status === 'failed') return record;
      if (Date.now() > until) throw new Error(`conversion of ${imageId} still ${record.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    await store.start(databaseUrl!, natsUrl!, redisUrl!);
    // Compressible content: random blocks between runs of zeros and of a repeated pattern.
    const disk = Buffer.alloc(DISK);
    for (let off = 0; off < DISK; off += 256 * 1024) randomBytes(16 * 1024).copy(disk, off);
    disk.fill('nubo', DISK / 2, DISK / 2 + 512 * 1024);
    writeFileSync(path('disk.raw'), disk);
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', 'disk.raw', 'disk.qcow2');
    qemuImg('convert', '-f', 'qcow2', '-O', 'raw', 'disk.qcow2', 'expected.raw');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-c', 'disk.raw', 'expected-c.qcow2');
  });

  afterAll(() => store.stop(tag));

  it('converts a qcow2 to raw: a new private image, active, with the bytes of a direct qemu-img convert', async () => {
    const source = await imageOf('disk.qcow2', 'qcow2', { hw_disk_bus: 'virtio', min_ram: 64, visibility: 'shared' });
    const reply = await store.call('convert', { caller: owner, imageId: source, body: { disk_format: 'raw' } });
    expect(reply).toEqual({ image: { id: expect.any(String), status: 'queued' }, job: { id: `image.convert-${reply.image.id}` } });

    expect(await finished(reply.image.id)).toEqual({ imageId: reply.image.id, sourceImageId: source, status: 'done', progress: 100, error: null });
    const expected = readFileSync(path('expected.raw'));
    const converted = await store.call('get', { imageId: reply.image.id, ...owner });
    expect(converted).toMatchObject({
      status: 'active',
      name: `${tag}-disk.qcow2 (raw)`,
      visibility: 'private',
      projectId: owner.projectId,
      diskFormat: 'raw',
      sha256: sha256(expected),
      sizeBytes: DISK,
      virtualSize: DISK,
      minRam: 64,
      properties: { hw_disk_bus: 'virtio' },
    });
    expect((await store.download(reply.image.id, owner)).body.equals(expected)).toBe(true);
    expect(store.files().staged).toEqual([]);
  });

  it('converts raw to compressed qcow2 (by an admin, for the owner) like a direct qemu-img convert -c', async () => {
    const source = await imageOf('disk.raw', 'raw');
    const reply = await store.call('convert', { caller: admin, imageId: source, body: { disk_format: 'qcow2', compress: true, name: `${tag}-small` } });
    expect((await finished(reply.image.id, admin)).status).toBe('done');
    const expected = readFileSync(path('expected-c.qcow2'));
    const converted = await store.call('get', { imageId: reply.image.id, ...owner });
    expect(converted).toMatchObject({ status: 'active', name: `${tag}-small`, diskFormat: 'qcow2', sha256: sha256(expected), virtualSize: DISK });
    expect(converted.sizeBytes).toBeLessThan(readFileSync(path('disk.qcow2')).length);
  });

  it('kills the new image with the reason when qemu-img fails, and keeps no file', async () => {
    const source = await imageOf('disk.qcow2', 'qcow2');
    const { sha256: key } = await store.call('get', { imageId: source, ...owner });
    // The stored source goes bad behind the store's back: qemu-img cannot read it any more.
    writeFileSync(join(store.dir, 'images', 'sha256', key!.slice(0, 2), key!), Buffer.alloc(4096, 7));
    const reply = await store.call('convert', { caller: owner, imageId: source, body: { disk_format: 'raw' } });
    const record = await finished(reply.image.id);
    expect(record).toMatchObject({ status: 'failed', sourceImageId: source, error: expect.stringMatching(/qemu-img convert failed/) });
    expect(record.error).not.toContain(store.dir);
    expect((await store.call('get', { imageId: reply.image.id, ...owner })).status).toBe('killed');
    expect(store.files().staged).toEqual([]);
    await store.call('delete', { caller: owner, imageId: source });
  });

  it('refuses what it cannot convert and creates nothing then', async () => {
    const source = await imageOf('disk.raw', 'raw');
    const count = async () => (await store.call('list', { ...owner, query: { limit: '1000' } })).images.length;
    const before = await count();
    const convert = (body: unknown, caller = owner, imageId = source) => store.call('convert', { caller, imageId, body });
    await expect(convert({ disk_format: 'raw', compress: true })).rejects.toMatchObject({ details: { field: 'compress' } });
    await expect(convert({ disk_format: 'vmdk' })).rejects.toBeInstanceOf(ValidationError);
    await expect(convert({ disk_format: 'raw' }, other)).rejects.toBeInstanceOf(NotFoundError);
    const queued = await store.call('create', { caller: owner, body: { name: `${tag}-empty`, disk_format: 'raw', container_format: 'bare' } });
    await expect(convert({ disk_format: 'qcow2' }, owner, queued.id)).rejects.toBeInstanceOf(ConflictError);
    expect(await count()).toBe(before + 1);

    const published = await store.call('create', { caller: admin, body: { name: `${tag}-pub`, disk_format: 'raw', container_format: 'bare', visibility: 'public' } });
    await expect(convert({ disk_format: 'qcow2' }, owner, published.id)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(store.call('conversion', { caller: owner, imageId: queued.id })).rejects.toThrow(/No conversion found/);
    await expect(store.call('conversion', { caller: other, imageId: queued.id })).rejects.toBeInstanceOf(NotFoundError);
  });
});
