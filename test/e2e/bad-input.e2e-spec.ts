/** Bad input answers 4xx in OpenStack's shape, names the problem, and leaves nothing behind. */
import { OpenStackClient } from '@nubo/client';
import { QUEUES } from '@nubo/contracts';
import { Queue } from 'bullmq';
import { adminClient, cloudEnv, withDb } from '../support/cloud';
import { E2E } from '../support/e2e-env';

describe('bad input on server create', () => {
  let admin: OpenStackClient;
  let queue: Queue;

  beforeAll(async () => {
    admin = await adminClient();
    queue = new Queue(QUEUES.workflows, { connection: { url: cloudEnv().NUBO_REDIS_URL }, prefix: `bull-${E2E.NUBO_CLOUD_NAME}` });
  });
  afterAll(async () => {
    await queue.close();
  });

  const serverRows = () => withDb(async (db) => Number((await db.query('SELECT count(*) FROM compute.servers')).rows[0].count));
  const jobCount = async () => Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);

  it.each([
    ['a missing name', { server: { flavorRef: '42' } }, 400, 'badRequest', /'name' is a required property/],
    ['a name of the wrong type', { server: { name: 7, flavorRef: '42' } }, 400, 'badRequest', /field\/attribute name/],
    ['an over-long name', { server: { name: 'x'.repeat(256), flavorRef: '42' } }, 400, 'badRequest', /field\/attribute name/],
    ['an unknown flavor', { server: { name: 'x', flavorRef: '999' } }, 400, 'badRequest', /Flavor 999 could not be found/],
    ['an unknown property', { server: { name: 'x', flavorRef: '42', bogus: 1 } }, 400, 'badRequest', /'bogus' was unexpected/],
    ['no server object', { name: 'x' }, 400, 'badRequest', /'server' is a required property/],
    ['an unknown image', { server: { name: 'x', flavorRef: '42', imageRef: '6f2a3c7e-0000-4000-8000-000000000000' } }, 400, 'badRequest', /Image .* could not be found/],
  ])('refuses %s', async (_what, body, status, key, message) => {
    const [rows, jobs] = [await serverRows(), await jobCount()];
    const reply = await admin.request('POST', '/compute/v2.1/servers', { body });
    expect(reply.status).toBe(status);
    expect(reply.body[key].code).toBe(status);
    expect(reply.body[key].message).toMatch(message);
    expect(reply.headers.get('x-openstack-request-id')).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(await serverRows()).toBe(rows);
    expect(await jobCount()).toBe(jobs);
  });

  it('refuses malformed JSON with 400', async () => {
    const rows = await serverRows();
    const reply = await admin.request('POST', '/compute/v2.1/servers', { rawBody: '{"server": {"name": ' });
    expect(reply.status).toBe(400);
    expect(reply.body.badRequest.message).toMatch(/malformed/i);
    expect(await serverRows()).toBe(rows);
  });

  it('refuses an invalid token with 401 in Keystone shape, creating nothing', async () => {
    const [rows, jobs] = [await serverRows(), await jobCount()];
    const reply = await admin.request('POST', '/compute/v2.1/servers', {
      body: { server: { name: 'x', flavorRef: '42' } },
      headers: { 'x-auth-token': 'not-a-token' },
    });
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({
      error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
    });
    expect(await serverRows()).toBe(rows);
    expect(await jobCount()).toBe(jobs);
  });

  it('refuses a wrong password with 401 and issues no token', async () => {
    const reply = await admin.request('POST', '/identity/v3/auth/tokens', {
      headers: { 'x-auth-token': '' },
      body: {
        auth: {
          identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'wrong' } } },
          scope: { project: { name: 'admin', domain: { name: 'Default' } } },
        },
      },
    });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('x-subject-token')).toBeNull();
  });

  it('answers an unknown server id with 404 itemNotFound', async () => {
    const reply = await admin.request('GET', '/compute/v2.1/servers/6f2a3c7e-0000-4000-8000-000000000000');
    expect(reply.status).toBe(404);
    expect(reply.body.itemNotFound.message).toMatch(/could not be found/);
  });

  it('answers a microversion beyond the newest with 406', async () => {
    const reply = await admin.request('GET', '/compute/v2.1/servers', { headers: { 'OpenStack-API-Version': 'compute 2.999' } });
    expect(reply.status).toBe(406);
  });
});
