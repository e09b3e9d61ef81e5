/** Per-project image quota (count and bytes) against real PostgreSQL, NATS and the HTTP server. */
import { QuotaExceededError } from '@nubo/contracts';
import { randomBytes, randomUUID } from 'node:crypto';
import { ImageStoreHarness } from '../image-store-harness';

const databaseUrl = process.env.NUBO_DATABASE_URL;
const natsUrl = process.env.NUBO_NATS_URL;
const redisUrl = process.env.NUBO_REDIS_URL;
const run = databaseUrl && natsUrl && redisUrl ? describe : describe.skip;
const MiB = 1024 * 1024;

run('image quotas', () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  const store = new ImageStoreHarness({ maxBytes: 4 * MiB, maxVirtualBytes: 1024 ** 3, quotaCount: 3, quotaBytes: 1.5 * MiB });
  const create = (projectId: string) =>
    store.call('create', { caller: { projectId, isAdmin: false }, body: { name: `${tag}-img`, disk_format: 'raw', container_format: 'bare' } });

  beforeAll(() => store.start(databaseUrl!, natsUrl!, redisUrl!));
  afterAll(() => store.stop(tag));

  it('lets exactly 3 of 6 parallel creates of one project through', async () => {
    const projectId = `${tag}-count`;
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => create(projectId)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(3);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(QuotaExceededError);
      expect(r.reason.message).toMatch(/Maximum number of images exceeded/);
    }
    // Another project has its own count.
    await expect(create(`${tag}-other`)).resolves.toMatchObject({ status: 'queued' });
  });

  it('refuses an upload past the byte quota with 413 and keeps the image queued', async () => {
    const caller = { projectId: `${tag}-bytes`, isAdmin: false };
    const first = await create(caller.projectId);
    expect((await store.upload(first.id, caller, randomBytes(MiB))).status).toBe(204);
    const second = await create(caller.projectId);
    const reply = await store.upload(second.id, caller, randomBytes(MiB));
    expect(reply.status).toBe(413);
    expect((await store.call('get', { imageId: second.id, ...caller })).status).toBe('queued');
    // What is left (half a MiB) still fits.
    expect((await store.upload(second.id, caller, randomBytes(MiB / 4))).status).toBe(204);
  });
});
