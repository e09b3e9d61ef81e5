/**
 * Memory features of /nubo/v1 on a whole cloud: the balloon of a real Linux guest (the nubo-test
 * image under TCG, which loads virtio_balloon), set and read through the API as an admin and
 * checked on the host through the instance's operator QMP socket; and KSM, which the e2e cloud's
 * agents turn on (deploy/cloud.sh passes NUBO_AGENT_KSM=on), as each host's heartbeat reports it.
 */
import { OpenStackClient } from '@nubo/client';
import { QmpClient } from '@nubo/qmp';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminClient, demoClient, eventually, instanceDir } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { GUEST_BOOTED, testImageId, waitForConsole } from '../support/guest';

jest.setTimeout(900_000);

const isRoot = process.getuid?.() === 0;
const M1_TINY = '1'; // 512 MiB: targets from 128 to 512 MiB
const MiB = 2 ** 20;
/** The test guest runs under TCG: 8 KiB short of its flavor (qemu-migration-quirks.ts). */
const FULL = 512 * MiB - 8 * 1024;

(isRoot ? describe : describe.skip)('memory balloon and KSM through /nubo/v1 (needs root)', () => {
  let admin: OpenStackClient;
  let demo: OpenStackClient;
  let id: string;
  let host: string;

  const balloonPath = () => `/nubo/v1/servers/${id}/balloon`;
  const getBalloon = async () => (await admin.call('GET', balloonPath(), 200)).balloon;

  /** query-balloon on the instance's operator QMP socket, independently of the agent. */
  async function qmpActual(): Promise<number> {
    const qmp = await QmpClient.connect(join(instanceDir(host, id), 'qmp-ops.sock'));
    try {
      return (await qmp.execute<{ actual: number }>('query-balloon')).actual;
    } finally {
      qmp.close();
    }
  }

  beforeAll(async () => {
    admin = await adminClient();
    demo = await demoClient();
    const imageRef = await testImageId(admin);
    id = await admin.createServer({ name: `balloon-${Date.now().toString(36)}`, flavorRef: M1_TINY, imageRef });
    host = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    // Printed once /init has loaded the guest's modules, the balloon driver among them.
    await waitForConsole(admin, id, GUEST_BOOTED);
  });

  afterAll(async () => {
    if (!id) return;
    await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    await admin.waitForGone(id, 120_000).catch(() => undefined);
  });

  describe('GET and PUT /nubo/v1/servers/{id}/balloon', () => {
    it('shows the whole flavor RAM before any target', async () => {
      expect(await getBalloon()).toEqual({ actual_mb: 512, max_mb: 512 });
      expect(await qmpActual()).toBe(FULL);
    });

    it('takes a lower target from an admin (202); actual converges to it, and QMP agrees', async () => {
      const reply = await admin.request('PUT', balloonPath(), { body: { balloon: { target_mb: 256 } } });
      expect(reply.status).toBe(202);
      expect(reply.body.balloon).toMatchObject({ max_mb: 512, target_mb: 256 });
      const seen = await eventually('actual_mb 256', async () => {
        const b = await getBalloon();
        return b.actual_mb === 256 && b;
      }, 180_000);
      expect(seen).toEqual({ actual_mb: 256, max_mb: 512, target_mb: 256 });
      expect(await qmpActual()).toBe(256 * MiB);
    });

    it('gives the RAM back when the target is the flavor RAM again', async () => {
      await admin.call('PUT', balloonPath(), 202, { balloon: { target_mb: 512 } });
      await eventually('actual_mb 512', async () => (await getBalloon()).actual_mb === 512, 180_000);
      expect(await qmpActual()).toBe(FULL);
    });

    it.each([
      [{ balloon: { target_mb: 127 } }, 'target_mb', /less than the minimum of 128/],
      [{ balloon: { target_mb: 513 } }, 'target_mb', /greater than the maximum of 512/],
      [{ balloon: { target_mb: 'half' } }, 'target_mb', /is not of type 'integer'/],
      [{ balloon: {} }, 'target_mb', /required property/],
      [{ balloon: { target_mb: 256, actual_mb: 1 } }, 'balloon', /Additional properties/],
      [{ target_mb: 256 }, 'balloon', /required property/],
    ])('answers %j with 400 naming %s, and changes nothing', async (body, field, reason) => {
      const reply = await admin.request('PUT', balloonPath(), { body });
      expect(reply.status).toBe(400);
      expect(reply.body.badRequest.message).toContain(`Invalid input for field/attribute ${field}.`);
      expect(reply.body.badRequest.message).toMatch(reason);
      expect(await qmpActual()).toBe(FULL);
    });

    it("answers a non-admin with 403 in Nova's forbidden shape, on GET and PUT", async () => {
      for (const [method, body] of [['GET', undefined], ['PUT', { balloon: { target_mb: 256 } }]] as const) {
        const reply = await demo.request(method, balloonPath(), { body });
        expect(reply.status).toBe(403);
        expect(reply.body).toEqual({ forbidden: { code: 403, message: expect.stringMatching(/^Policy doesn't allow nubo:servers:balloon:\w+ to be performed\.$/) } });
      }
      expect(await qmpActual()).toBe(FULL);
    });

    it('answers 404 for an unknown server', async () => {
      const reply = await admin.request('GET', `/nubo/v1/servers/${randomUUID()}/balloon`);
      expect(reply.status).toBe(404);
      expect(reply.body.itemNotFound.code).toBe(404);
      expect((await admin.request('PUT', `/nubo/v1/servers/${randomUUID()}/balloon`, { body: { balloon: { target_mb: 256 } } })).status).toBe(404);
    });

    it('answers 409 to a target for a paused server, and still shows its balloon', async () => {
      await admin.call('POST', `/compute/v2.1/servers/${id}/action`, 202, { pause: null });
      try {
        await admin.waitForStatus(id, 'PAUSED', 120_000);
        const reply = await admin.request('PUT', balloonPath(), { body: { balloon: { target_mb: 256 } } });
        expect(reply.status).toBe(409);
        expect(reply.body.conflictingRequest.code).toBe(409);
        expect(await getBalloon()).toMatchObject({ actual_mb: 512, max_mb: 512 });
      } finally {
        await admin.call('POST', `/compute/v2.1/servers/${id}/action`, 202, { unpause: null });
        await admin.waitForStatus(id, 'ACTIVE', 120_000);
      }
    });
  });

  describe('KSM in GET /nubo/v1/hosts', () => {
    it('shows KSM on (run = 1) with its page counters for every host', async () => {
      const hosts = await eventually('every host reporting KSM', async () => {
        const all = await admin.hosts();
        return all.length === Number(E2E.NUBO_HOSTS) && all.every((h) => h.ksm?.run === 1) && all;
      }, 30_000);
      for (const h of hosts) {
        expect(h.ksm).toEqual({
          enabled: true,
          available: true,
          run: 1,
          pages_shared: expect.any(Number),
          pages_sharing: expect.any(Number),
          pages_unshared: expect.any(Number),
          full_scans: expect.any(Number),
        });
      }
      // The kernel's own figure: the hosts share one kernel here.
      expect(Number(readFileSync('/sys/kernel/mm/ksm/run', 'utf8').trim())).toBe(1);
    });

    it('is for admins only', async () => {
      const reply = await demo.request('GET', '/nubo/v1/hosts');
      expect(reply.status).toBe(403);
    });
  });
});
