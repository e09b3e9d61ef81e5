/**
 * Host leases against real PostgreSQL, in a database of their own: renewal, expiry, rejoin with a
 * new epoch (the old one refused), a fence reported by the agent (the host disabled until an
 * admin enables it, every change in the history with its reason), the fencing token, the
 * heartbeat that must not revive a fenced host, and racing joins.
 */
import { Logger } from '@nestjs/common';
import { HeartbeatEvent, HostState, LeaseRenewReply, PowerState, VmState } from '@nubo/contracts';
import { createDataSource, releaseHostFence, setHostStateReason } from '@nubo/database';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { HostLeaseStore } from './host-leases';
import { HostRegistryService } from './host-registry.service';
import { PowerSyncService } from './power-sync.service';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started = '2026-01-01T00:00:00.000Z';

run(HostLeaseStore.name, () => {
  let database: PrivateDatabase;
  let db: DataSource;
  let leases: HostLeaseStore;
  let host: string;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_leases');
    db = createDataSource({ url: database.url, schemas: ['compute'], applicationName: 'host-leases-it', poolSize: 12 });
    await db.initialize();
    leases = new HostLeaseStore(db, { leaseMs: 60_000 });
  }, 60_000);

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  beforeEach(async () => {
    host = `h-${randomUUID().slice(0, 8)}`;
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at) VALUES ($1, 'up', 'tcg', 4, 4096, 10, now(), now())`,
      [host],
    );
  });

  const join = (extra: object = {}, store = leases) => store.renew({ hostId: host, agentStartedAt: started, ...extra });
  const renew = (epoch: number, store = leases) => store.renew({ hostId: host, agentStartedAt: started, epoch });
  const epochOf = (reply: LeaseRenewReply) => (reply.status === 'granted' ? reply.epoch : undefined);
  const state = async () => ((await db.query(`SELECT state, disabled_reason FROM compute.hosts WHERE id = $1`, [host])) as Array<{ state: string; disabled_reason: string | null }>)[0];
  const history = async () =>
    (await db.query(`SELECT from_state, to_state, reason, epoch::int AS epoch FROM compute.host_state_history WHERE host_id = $1 ORDER BY id`, [host])) as Array<{
      from_state: string | null;
      to_state: string;
      reason: string;
      epoch: number | null;
    }>;
  const setState = (s: HostState, reason: string) =>
    db.transaction(async (tx) => {
      await setHostStateReason(tx, reason);
      await tx.query(`UPDATE compute.hosts SET state = $2 WHERE id = $1`, [host, s]);
    });
  /** What os-services enable does. */
  const enable = () =>
    db.transaction(async (tx) => {
      await setHostStateReason(tx, 'enabled by user admin (os-services enable)');
      await tx.query(`UPDATE compute.hosts SET state = 'up', disabled_reason = NULL WHERE id = $1 AND state = 'disabled'`, [host]);
      await releaseHostFence(tx, host);
    });

  describe('renew', () => {
    it('grants epoch 1 to the first join and renews it with the same epoch', async () => {
      expect(await join()).toEqual({ status: 'granted', epoch: 1, leaseMs: 60_000, assignedServerIds: [] });
      expect(await renew(1)).toEqual({ status: 'granted', epoch: 1, leaseMs: 60_000 });
      const [row] = await db.query(`SELECT epoch::int AS epoch, expires_at > now() + interval '59 seconds' AS long FROM compute.host_leases WHERE host_id = $1`, [host]);
      expect(row).toEqual({ epoch: 1, long: true });
    });

    it('gives a restarted agent a new epoch and refuses the old one from then on', async () => {
      await join();
      expect(epochOf(await join())).toBe(2);
      expect(await renew(1)).toEqual({ status: 'stale', reason: `epoch 1 is not the host's current epoch (2)` });
      expect(await renew(2)).toMatchObject({ status: 'granted', epoch: 2 });
      expect(await leases.currentEpoch(host)).toBe(2);
    });

    it('refuses a renewal of an expired lease; a join after it gets a new epoch and the host is not fenced', async () => {
      const short = new HostLeaseStore(db, { leaseMs: 300 });
      await join({}, short);
      await sleep(400);
      expect(await renew(1, short)).toMatchObject({ status: 'stale', reason: expect.stringMatching(/^the lease of epoch 1 expired \d+ ms ago$/) });
      // An agent that crashed and came back (its QEMUs never stopped): nothing was fenced.
      expect(await join({}, short)).toMatchObject({ status: 'granted', epoch: 2 });
      expect((await state()).state).toBe('up');
    });

    it('refuses a renewal from a host that never joined', async () => {
      expect(await renew(1)).toEqual({ status: 'stale', reason: 'the host holds no lease: join first' });
    });

    it('refuses malformed requests naming the field', async () => {
      await expect(leases.renew({ hostId: 'a.b', agentStartedAt: started })).rejects.toMatchObject({ details: { field: 'hostId' } });
      await expect(leases.renew({ hostId: host, agentStartedAt: started, epoch: 0 })).rejects.toMatchObject({ details: { field: 'epoch' } });
      await expect(leases.renew({ hostId: host, agentStartedAt: 'yesterday' })).rejects.toMatchObject({ details: { field: 'agentStartedAt' } });
    });

    it('hands out distinct epochs to racing joins', async () => {
      const replies = await Promise.all(Array.from({ length: 10 }, () => join()));
      expect(replies.map(epochOf).sort((a, b) => a! - b!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });
  });

  describe('an agent back from a self-fence', () => {
    it('fences the host, keeps it disabled with every join refused until an admin enables it, then grants a new epoch', async () => {
      const server = randomUUID();
      await db.query(
        `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, power_state, request_id, host_id)
         VALUES ($1, 'p', 'u', 'fenced-host-server', '1', '{}', $2, $3, 'req', $4)`,
        [server, VmState.Active, PowerState.Running, host],
      );
      await join();
      await setState(HostState.Down, 'no heartbeat for more than 10000 ms');
      const back = await join({ fencedEpoch: 1, fencedReason: 'no lease renewal for 14000 ms; killed 1 QEMU(s)' });
      expect(back).toEqual({ status: 'refused', reason: 'the host was fenced (epoch 1) and is not enabled again', assignedServerIds: [server] });
      expect(await state()).toEqual({ state: 'disabled', disabled_reason: 'fenced (epoch 1): enable the service to use the host again' });
      expect(await renew(1)).toEqual({ status: 'stale', reason: 'epoch 1 was fenced' });
      expect((await join()).status).toBe('refused');

      await enable();
      // Even if the agent reports its fence again (it did not hear the refusal), the admin's enable stands.
      expect(await join({ fencedEpoch: 1, fencedReason: 'repeated' })).toEqual({ status: 'granted', epoch: 2, leaseMs: 60_000, assignedServerIds: [server] });
      expect(await history()).toEqual([
        { from_state: null, to_state: 'up', reason: 'unspecified', epoch: null },
        { from_state: 'up', to_state: 'down', reason: 'no heartbeat for more than 10000 ms', epoch: 1 },
        { from_state: 'down', to_state: 'fenced', reason: 'the agent fenced itself: no lease renewal for 14000 ms; killed 1 QEMU(s)', epoch: 1 },
        {
          from_state: 'fenced',
          to_state: 'disabled',
          reason: `the agent (started ${started}) came back after the fence of epoch 1; it starts nothing until an admin enables the host`,
          epoch: 1,
        },
        { from_state: 'disabled', to_state: 'up', reason: 'enabled by user admin (os-services enable)', epoch: 1 },
      ]);
      await db.query(`DELETE FROM compute.servers WHERE id = $1`, [server]);
    });

    it('ignores a self-fence report of an epoch the host no longer holds (a late message)', async () => {
      await join();
      await join();
      expect(await join({ fencedEpoch: 1, fencedReason: 'late' })).toMatchObject({ status: 'granted', epoch: 3 });
      expect((await state()).state).toBe('up');
    });
  });

  describe('markFenced', () => {
    it('fences only the epoch it names (the fencing token)', async () => {
      await join();
      await join();
      expect(await leases.markFenced(host, 1, 'fence driver: powered off')).toBe(false);
      expect((await state()).state).toBe('up');
      expect(await leases.markFenced(host, 2, 'fence driver: powered off')).toBe(true);
      expect(await leases.markFenced(host, 2, 'fence driver: powered off')).toBe(false);
      expect((await history()).at(-1)).toEqual({ from_state: 'up', to_state: 'fenced', reason: 'fence driver: powered off', epoch: 2 });
      expect(await renew(2)).toEqual({ status: 'stale', reason: 'epoch 2 was fenced' });
    });
  });

  describe('heartbeats (HostRegistryService)', () => {
    const config = { NUBO_HOST_DOWN_AFTER_MS: 10_000, NUBO_HOST_LEASE_MS: 60_000 } as SchedulerConfig;
    const power = { syncHost: async () => undefined } as unknown as PowerSyncService;
    const beat = (registry: HostRegistryService): Promise<void> =>
      registry.onHeartbeat({
        hostId: host,
        agentStartedAt: started,
        sentAt: new Date().toISOString(),
        accelerator: 'tcg',
        underlayIp: null,
        capacity: { vcpus: 4, ramMb: 4096, diskGb: 10 },
        instances: [],
      } satisfies HeartbeatEvent);
    let registry: HostRegistryService;
    beforeAll(() => {
      registry = new HostRegistryService(db, {} as never, config, power);
    });

    it('brings a down host up when its lease is live, or when it has none', async () => {
      await setState(HostState.Down, 'test');
      await beat(registry);
      expect((await state()).state).toBe('up');
      await join();
      await setState(HostState.Down, 'test');
      await beat(registry);
      expect((await state()).state).toBe('up');
      expect((await history()).at(-1)).toEqual({ from_state: 'down', to_state: 'up', reason: `heartbeat from the agent started at ${started}`, epoch: 1 });
    });

    it('leaves a down host down while its lease is expired or fenced (its agent must rejoin first)', async () => {
      const short = new HostLeaseStore(db, { leaseMs: 200 });
      await join({}, short);
      await setState(HostState.Down, 'test');
      await sleep(300);
      await beat(registry);
      expect((await state()).state).toBe('down');
      await join({}, short); // rejoined: the next heartbeat brings it up
      await beat(registry);
      expect((await state()).state).toBe('up');
    });

    it('marks a silent up host down, with the reason', async () => {
      await db.query(`UPDATE compute.hosts SET last_heartbeat_at = now() - interval '20 seconds' WHERE id = $1`, [host]);
      await registry.markSilentHostsDown();
      expect((await history()).at(-1)).toEqual({ from_state: 'up', to_state: 'down', reason: 'no heartbeat for more than 10000 ms', epoch: null });
    });

    it('records a new host with the heartbeat that made it', async () => {
      await db.query(`DELETE FROM compute.hosts WHERE id = $1`, [host]);
      await beat(registry);
      expect((await history()).at(-1)).toEqual({ from_state: null, to_state: 'up', reason: `heartbeat from the agent started at ${started}`, epoch: null });
    });
  });
});
