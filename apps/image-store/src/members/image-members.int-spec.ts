/**
 * Glance image members against real PostgreSQL and NATS: a shared image is usable (show, download,
 * list, boot lookups) by a member that accepted it, shown but not usable while pending or rejected,
 * and a 404 for everyone else; only the owner manages members, only the member answers.
 */
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@nubo/contracts';
import { randomBytes, randomUUID } from 'node:crypto';
import { ImageStoreHarness } from '../image-store-harness';

const databaseUrl = process.env.NUBO_DATABASE_URL;
const natsUrl = process.env.NUBO_NATS_URL;
const redisUrl = process.env.NUBO_REDIS_URL;
const run = databaseUrl && natsUrl && redisUrl ? describe : describe.skip;

run('image members', () => {
  const tag = `itm-${randomUUID().slice(0, 8)}`;
  const owner = { projectId: `${tag}-owner`, isAdmin: false };
  const accepting = { projectId: `${tag}-accepting`, isAdmin: false };
  const pending = { projectId: `${tag}-pending`, isAdmin: false };
  const rejecting = { projectId: `${tag}-rejecting`, isAdmin: false };
  const stranger = { projectId: `${tag}-stranger`, isAdmin: false };
  const admin = { projectId: `${tag}-admin`, isAdmin: true };
  const store = new ImageStoreHarness({ maxBytes: 1024 * 1024, maxVirtualBytes: 1024 ** 3 });
  const data = randomBytes(64 * 1024);
  let imageId: string;

  const get = (caller: typeof owner, anyMemberStatus = false) => store.call('get', { imageId, ...caller, anyMemberStatus });
  const listIds = async (caller: typeof owner, query: Record<string, string> = {}) =>
    (await store.call('list', { ...caller, query: { limit: '1000', ...query } })).images.map((i) => i.id);
  const add = (member: string, caller = owner) => store.call('memberCreate', { caller, imageId, body: { member } });
  const answer = (caller: typeof owner, status: string, memberId = caller.projectId) =>
    store.call('memberUpdate', { caller, imageId, memberId, body: { status } });

  beforeAll(() => store.start(databaseUrl!, natsUrl!, redisUrl!));
  afterAll(() => store.stop(tag));

  beforeEach(async () => {
    const image = await store.call('create', { caller: owner, body: { name: `${tag}-img`, disk_format: 'raw', container_format: 'bare' } });
    expect(image.visibility).toBe('shared');
    imageId = image.id;
    expect((await store.upload(imageId, owner, data)).status).toBe(204);
    for (const member of [accepting, pending, rejecting]) expect(await add(member.projectId)).toMatchObject({ memberId: member.projectId, status: 'pending' });
    expect(await answer(accepting, 'accepted')).toMatchObject({ imageId, memberId: accepting.projectId, status: 'accepted' });
    expect((await answer(rejecting, 'rejected')).status).toBe('rejected');
  });

  afterEach(async () => {
    if (store.db?.isInitialized) await store.db.query('DELETE FROM image.images WHERE id = $1', [imageId]);
  });

  it('lets the accepting member use the image; pending and rejected members only see it; others get 404', async () => {
    expect((await get(accepting)).id).toBe(imageId);
    expect((await store.download(imageId, accepting)).body.equals(data)).toBe(true);
    expect(await listIds(accepting)).toContain(imageId);

    for (const member of [pending, rejecting]) {
      // The image.get the api's server create and the scheduler use: not usable yet.
      await expect(get(member)).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.download(imageId, member)).status).toBe(404);
      expect(await listIds(member)).not.toContain(imageId);
      // Glance's show: the member sees what it was offered, so that it can answer.
      expect((await get(member, true)).id).toBe(imageId);
    }
    expect(await listIds(pending, { member_status: 'pending' })).toContain(imageId);
    expect(await listIds(pending, { visibility: 'shared', member_status: 'pending' })).toContain(imageId);
    expect(await listIds(rejecting, { member_status: 'rejected' })).toContain(imageId);
    expect(await listIds(rejecting, { member_status: 'all' })).toContain(imageId);
    expect(await listIds(accepting, { member_status: 'pending' })).not.toContain(imageId);

    await expect(get(stranger, true)).rejects.toBeInstanceOf(NotFoundError);
    expect((await store.download(imageId, stranger)).status).toBe(404);
    expect(await listIds(stranger, { member_status: 'all' })).not.toContain(imageId);
    await expect(store.call('memberList', { caller: stranger, imageId })).rejects.toBeInstanceOf(NotFoundError);

    // A member that accepts late gets the image; one that goes back to pending loses it again.
    await answer(pending, 'accepted');
    expect((await get(pending)).id).toBe(imageId);
    await answer(accepting, 'pending');
    await expect(get(accepting)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('shows the owner every member and a member its own entry only', async () => {
    const all = await store.call('memberList', { caller: owner, imageId });
    expect(all.members.map((m) => [m.memberId, m.status])).toEqual([
      [accepting.projectId, 'accepted'],
      [pending.projectId, 'pending'],
      [rejecting.projectId, 'rejected'],
    ]);
    expect((await store.call('memberList', { caller: admin, imageId })).members).toHaveLength(3);
    expect((await store.call('memberList', { caller: pending, imageId })).members.map((m) => m.memberId)).toEqual([pending.projectId]);
    expect(await store.call('memberGet', { caller: owner, imageId, memberId: rejecting.projectId })).toMatchObject({ status: 'rejected' });
    expect(await store.call('memberGet', { caller: pending, imageId, memberId: pending.projectId })).toMatchObject({ status: 'pending' });
    await expect(store.call('memberGet', { caller: pending, imageId, memberId: accepting.projectId })).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.call('memberGet', { caller: owner, imageId, memberId: stranger.projectId })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lets only the owner manage members and only the member answer, as Glance does', async () => {
    await expect(answer(owner, 'accepted', pending.projectId)).rejects.toThrow(ForbiddenError);
    await expect(answer(accepting, 'rejected', pending.projectId)).rejects.toThrow(ForbiddenError);
    await expect(add(stranger.projectId, accepting)).rejects.toThrow(ForbiddenError);
    await expect(store.call('memberDelete', { caller: accepting, imageId, memberId: accepting.projectId })).rejects.toThrow(ForbiddenError);
    await expect(store.call('update', { caller: accepting, imageId, patch: [{ op: 'replace', path: '/name', value: 'mine' }] })).rejects.toThrow(ForbiddenError);
    await expect(add(accepting.projectId)).rejects.toThrow(ConflictError);
    await expect(answer(pending, 'maybe')).rejects.toThrow(ValidationError);
    await expect(store.call('memberCreate', { caller: owner, imageId, body: {} })).rejects.toThrow(ValidationError);
    expect((await store.call('memberGet', { caller: owner, imageId, memberId: pending.projectId })).status).toBe('pending');
    expect(await answer(admin, 'accepted', pending.projectId)).toMatchObject({ status: 'accepted' });

    await store.call('memberDelete', { caller: owner, imageId, memberId: accepting.projectId });
    await expect(get(accepting, true)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.call('memberDelete', { caller: owner, imageId, memberId: accepting.projectId })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('ignores the members of an image that is not shared, and refuses new ones', async () => {
    const setVisibility = (value: string) => store.call('update', { caller: owner, imageId, patch: [{ op: 'replace', path: '/visibility', value }] });
    await setVisibility('private');
    await expect(get(accepting, true)).rejects.toBeInstanceOf(NotFoundError);
    expect(await listIds(accepting, { member_status: 'all' })).not.toContain(imageId);
    await expect(add(stranger.projectId)).rejects.toThrow('Not allowed to create members for image');
    await expect(store.call('memberList', { caller: owner, imageId })).rejects.toThrow('Only shared images have members.');
    await expect(store.call('memberGet', { caller: owner, imageId, memberId: accepting.projectId })).rejects.toBeInstanceOf(NotFoundError);
    await setVisibility('shared');
    expect((await get(accepting)).id).toBe(imageId);
  });
});
