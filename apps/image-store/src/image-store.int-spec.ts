/**
 * The image store against real PostgreSQL, NATS and qemu-img: metadata over NATS, bytes over its
 * HTTP server. Uploads come back bit-exact; refused, cut-off and oversized uploads leave no file and
 * the image queued; another project's private image is a 404.
 */
import { ConflictError, ForbiddenError, ImageRecord, NotFoundError, ValidationError, signCallerHeaders, signImageUrl } from '@nubo/contracts';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ImageStoreHarness, SECRET } from './image-store-harness';

const databaseUrl = process.env.NUBO_DATABASE_URL;
const natsUrl = process.env.NUBO_NATS_URL;
const redisUrl = process.env.NUBO_REDIS_URL;
const run = databaseUrl && natsUrl && redisUrl ? describe : describe.skip;
const MAX_BYTES = 4 * 1024 * 1024;

run('image store', () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  const p1 = { projectId: `${tag}-p1`, isAdmin: false };
  const p2 = { projectId: `${tag}-p2`, isAdmin: false };
  const admin = { projectId: `${tag}-admin`, isAdmin: true };
  const store = new ImageStoreHarness({ maxBytes: MAX_BYTES, maxVirtualBytes: 1024 ** 3 });
  const file = (name: string) => readFileSync(join(store.dir, name));
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
  const create = (caller = p1, body: Record<string, unknown> = {}) =>
    store.call('create', { caller, body: { name: `${tag}-img`, disk_format: 'qcow2', container_format: 'bare', ...body } });
  const get = (id: string, caller = p1) => store.call('get', { imageId: id, ...caller });
  const noFiles = () => expect(store.files()).toEqual({ stored: [], staged: [] });

  beforeAll(async () => {
    await store.start(databaseUrl!, natsUrl!, redisUrl!);
    const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: store.dir, stdio: 'ignore' });
    writeFileSync(join(store.dir, 'data.raw'), randomBytes(512 * 1024));
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', 'data.raw', 'good.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', join(store.dir, 'data.raw'), '-F', 'raw', 'backed.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', `data_file=${join(store.dir, 'external.raw')}`, 'datafile.qcow2', '1M');
    qemuImg('create', '-f', 'vmdk', 'disk.vmdk', '1M');
    const iso = Buffer.alloc(64 * 1024);
    iso.write('CD001', 32769, 'latin1');
    writeFileSync(join(store.dir, 'cd.iso'), iso);
  });

  afterAll(() => store.stop(tag));

  afterEach(async () => {
    // Every test starts with an empty store: delete what it made (protected or not).
    if (!store.db?.isInitialized) return;
    await store.db.query(`UPDATE image.images SET protected = false WHERE project_id LIKE $1`, [`${tag}%`]);
    const { images } = await store.call('list', { ...admin, query: { limit: '1000' } });
    for (const image of images.filter((i) => i.projectId.startsWith(tag))) await store.call('delete', { caller: admin, imageId: image.id });
  });

  it('uploads, then downloads bit-exact with Glance checksums, and serves ranges', async () => {
    const created = await create(p1, { hw_disk_bus: 'virtio' });
    expect(created).toMatchObject({ status: 'queued', diskFormat: 'qcow2', sha256: null, sizeBytes: null, properties: { hw_disk_bus: 'virtio' } });
    const data = file('good.qcow2');
    expect((await store.upload(created.id, p1, data)).status).toBe(204);

    const active = await get(created.id);
    expect(active).toMatchObject({ status: 'active', sizeBytes: data.length, sha256: sha256(data), checksum: md5(data), virtualSize: 512 * 1024 });
    expect(store.files()).toEqual({ stored: [sha256(data)], staged: [] });

    const whole = await store.download(created.id, p1);
    expect(whole.status).toBe(200);
    expect(whole.headers['content-md5']).toBe(md5(data));
    expect(whole.headers['content-length']).toBe(String(data.length));
    expect(whole.body.equals(data)).toBe(true);

    const part = await store.download(created.id, p1, { range: 'bytes=4-11' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 4-11/${data.length}`);
    expect(part.body.equals(data.subarray(4, 12))).toBe(true);
    expect((await store.download(created.id, p1, { range: `bytes=${data.length}-` })).status).toBe(416);
  });

  it('takes a chunked upload and an ISO as raw; answers 204 for an image with no data', async () => {
    const raw = await create(p1, { disk_format: 'raw' });
    expect((await store.download(raw.id, p1)).status).toBe(204);
    const body = new PassThrough();
    const reply = store.upload(raw.id, p1, body);
    body.end(file('cd.iso'));
    expect((await reply).status).toBe(204);
    expect(await get(raw.id)).toMatchObject({ status: 'active', virtualSize: 64 * 1024 });
  });

  it('stores identical bytes once and removes them with the last image', async () => {
    const [a, b] = [await create(), await create()];
    for (const image of [a, b]) expect((await store.upload(image.id, p1, file('good.qcow2'))).status).toBe(204);
    expect(store.files().stored).toHaveLength(1);
    await store.call('delete', { caller: p1, imageId: a.id });
    expect((await store.download(b.id, p1)).body.equals(file('good.qcow2'))).toBe(true);
    await store.call('delete', { caller: p1, imageId: b.id });
    noFiles();
  });

  it.each([
    ['a qcow2 with a backing file', 'backed.qcow2', 'qcow2', /backing file/],
    ['a qcow2 with an external data file', 'datafile.qcow2', 'qcow2', /external data file/],
    ['a qcow2 declared raw', 'good.qcow2', 'raw', /is qcow2, not raw/],
    ['an ISO declared qcow2', 'cd.iso', 'qcow2', /not qcow2/],
    ['a VMDK declared raw', 'disk.vmdk', 'raw', /is vmdk, not raw/],
  ])('refuses %s with 400, keeps the image queued and leaves no file', async (_name, name, diskFormat, message) => {
    const image = await create(p1, { disk_format: diskFormat });
    const reply = await store.upload(image.id, p1, file(name));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body.toString())).toMatchObject({ code: 'validation', message: expect.stringMatching(message) });
    expect((await get(image.id)).status).toBe('queued');
    noFiles();
  });

  it('answers 413 past the size cap, announced or streamed, and leaves nothing', async () => {
    const image = await create(p1, { disk_format: 'raw' });
    const announced = await store.upload(image.id, p1, Buffer.alloc(MAX_BYTES + 1));
    expect(announced.status).toBe(413);
    const body = new PassThrough();
    const streamed = store.upload(image.id, p1, body);
    for (let i = 0; i < 5; i++) body.write(Buffer.alloc(1024 * 1024));
    body.end();
    expect((await streamed).status).toBe(413);
    expect((await get(image.id)).status).toBe('queued');
    noFiles();
  });

  it('puts a cut-off upload back to queued with no file, and takes the next upload', async () => {
    const image = await create();
    const data = file('good.qcow2');
    await new Promise<void>((resolve) => {
      const req = request({
        host: '127.0.0.1', port: store.port, method: 'PUT', path: `/v2/images/${image.id}/file`,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length), ...signHeaders(image.id) },
      });
      req.on('error', () => resolve());
      req.write(data.subarray(0, 100_000), () => setTimeout(() => req.destroy(), 100));
    });
    await waitFor(async () => (await get(image.id)).status === 'queued');
    noFiles();
    expect((await store.upload(image.id, p1, data)).status).toBe(204);
  });

  it('answers 410 and keeps nothing when the image is deleted during its upload', async () => {
    const image = await create();
    const body = new PassThrough();
    const reply = store.upload(image.id, p1, body);
    body.write(file('good.qcow2').subarray(0, 1000));
    await waitFor(async () => (await get(image.id)).status === 'saving');
    await store.call('delete', { caller: p1, imageId: image.id });
    body.end(file('good.qcow2').subarray(1000));
    expect((await reply).status).toBe(410);
    noFiles();
  });

  it("hides another project's private image (404) and refuses changes to another's public image (403)", async () => {
    const mine = await create(p1, { visibility: 'private' });
    await expect(get(mine.id, p2)).rejects.toBeInstanceOf(NotFoundError);
    expect((await store.download(mine.id, p2)).status).toBe(404);
    expect((await store.upload(mine.id, p2, file('good.qcow2'))).status).toBe(404);
    await expect(store.call('update', { caller: p2, imageId: mine.id, patch: [] })).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.call('delete', { caller: p2, imageId: mine.id })).rejects.toBeInstanceOf(NotFoundError);
    expect((await store.call('list', { ...p2, query: { limit: '1000' } })).images.map((i) => i.id)).not.toContain(mine.id);

    const shared = await create(admin, { visibility: 'public' });
    expect((await get(shared.id, p2)).id).toBe(shared.id);
    expect((await store.upload(shared.id, p2, file('good.qcow2'))).status).toBe(403);
    await expect(store.call('delete', { caller: p2, imageId: shared.id })).rejects.toBeInstanceOf(ForbiddenError);
    expect((await get(mine.id, admin)).id).toBe(mine.id);
  });

  it('refuses a second upload (409), a forged caller (403), and protects protected images', async () => {
    const image = await create();
    expect((await store.upload(image.id, p1, file('good.qcow2'))).status).toBe(204);
    expect((await store.upload(image.id, p1, file('good.qcow2'))).status).toBe(409);
    // With Expect: 100-continue (as the API sends), the refusal comes before any byte of the body.
    const refused = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = request({
        host: '127.0.0.1', port: store.port, method: 'PUT', path: `/v2/images/${image.id}/file`,
        headers: { 'content-type': 'application/octet-stream', 'content-length': '10', expect: '100-continue', ...signHeaders(image.id) },
      });
      req.on('continue', () => (continued = true));
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, continued });
        req.destroy();
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(refused).toEqual({ status: 409, continued: false });
    const forged = await store.http('GET', `/v2/images/${image.id}/file`, { headers: { ...signHeaders(image.id), 'x-nubo-caller-admin': '1' } });
    expect(forged.status).toBe(403);
    const updated = await store.call('update', { caller: p1, imageId: image.id, patch: [{ op: 'replace', path: '/protected', value: true }] });
    expect(updated.protected).toBe(true);
    await expect(store.call('delete', { caller: p1, imageId: image.id })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(store.call('update', { caller: p1, imageId: image.id, patch: [{ op: 'remove', path: '/nope' }] })).rejects.toBeInstanceOf(ConflictError);
    await expect(create(p1, { id: image.id })).rejects.toBeInstanceOf(ConflictError);
    await expect(create(p1, { disk_format: 'vmdk' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('serves agents through signed URLs only, for active images only', async () => {
    const image = await create();
    const url = (id: string, ttl = 60) => new URL(signImageUrl(`http://127.0.0.1:${store.port}`, id, SECRET, ttl));
    const path = (u: URL) => `${u.pathname}${u.search}`;
    expect((await store.http('GET', path(url(image.id)))).status).toBe(404);
    expect((await store.upload(image.id, p1, file('good.qcow2'))).status).toBe(204);
    const reply = await store.http('GET', path(url(image.id)));
    expect(reply.status).toBe(200);
    expect(reply.headers['x-nubo-image-sha256']).toBe(sha256(file('good.qcow2')));
    expect(reply.body.equals(file('good.qcow2'))).toBe(true);
    expect((await store.http('GET', path(url(image.id, -10)))).status).toBe(403);
    const other = url(randomUUID());
    expect((await store.http('GET', `/internal/images/${image.id}/file${other.search}`)).status).toBe(403);
  });

  it('lists with filters, sorting and markers', async () => {
    const made: ImageRecord[] = [];
    for (const name of ['b', 'a', 'c']) made.push(await create(p1, { name: `${tag}-${name}` }));
    const ids = (images: ImageRecord[]) => images.map((i) => i.name);
    const page1 = await store.call('list', { ...p1, query: { sort: 'name:asc', limit: '2', owner: p1.projectId } });
    expect(ids(page1.images)).toEqual([`${tag}-a`, `${tag}-b`]);
    const page2 = await store.call('list', { ...p1, query: { sort: 'name:asc', limit: '2', owner: p1.projectId, marker: page1.nextMarker! } });
    expect(ids(page2.images)).toEqual([`${tag}-c`]);
    expect(page2.nextMarker).toBeUndefined();
    expect(ids((await store.call('list', { ...p1, query: { name: `${tag}-c` } })).images)).toEqual([`${tag}-c`]);
    await expect(store.call('list', { ...p2, query: { marker: made[0].id } })).rejects.toBeInstanceOf(ValidationError);
  });

  const signHeaders = (imageId: string) => signCallerHeaders(p1, imageId, SECRET);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
