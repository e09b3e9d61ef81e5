/**
 * Quotas, key pairs, server groups and flavors against real PostgreSQL: concurrent creates of one
 * project never pass its quota, and each service answers Nova's errors.
 */
import { ConflictError, NotFoundError, PowerState, QuotaExceededError, TaskState, VmState } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { FlavorsService } from '../flavors/flavors.service';
import { KeypairsService } from '../keypairs/keypairs.service';
import { loadHosts } from '../hypervisors/host-inventory';
import { GroupsService } from '../server-groups/groups.service';
import { QuotaService } from './quota.service';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run('tenant resources (PostgreSQL)', () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  const sources: DataSource[] = [];
  let db: DataSource;
  let quotas: QuotaService;

  const auth = (project: string, o: { user?: string; admin?: boolean } = {}): AuthContext =>
    ({ userId: `${tag}-${o.user ?? 'u'}`, projectId: `${tag}-${project}`, isAdmin: o.admin ?? false, roles: [] }) as unknown as AuthContext;

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['identity', 'compute'], applicationName: 'tenant-resources-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    // Four "api processes", each with its own pool.
    for (let i = 0; i < 4; i++) {
      sources.push(await createDataSource({ url: url!, schemas: ['compute'], applicationName: `api-it-${i}`, poolSize: 5 }).initialize());
    }
    quotas = new QuotaService(db);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.server_group_members WHERE group_id IN (SELECT id FROM compute.server_groups WHERE project_id LIKE $1)`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.servers WHERE project_id LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.server_groups WHERE project_id LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.key_pairs WHERE user_id LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.quota_limits WHERE project_id LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.flavors WHERE name LIKE $1`, [`${tag}-%`]);
    await Promise.all([db, ...sources].map((s) => s.destroy()));
  });

  async function insertServer(tx: EntityManager, projectId: string, flavor = { vcpus: 1, ramMb: 512 }, id = randomUUID()): Promise<string> {
    await tx.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id)
       VALUES ($1, $2, 'u', $3, '1', $4, $5, $6, $7, 'req')`,
      [id, projectId, `${tag}-${id}`, { ...flavor, diskGb: 1, name: 't' }, VmState.Building, TaskState.Scheduling, PowerState.NoState],
    );
    return id;
  }

  describe(QuotaService.name, () => {
    it('lets exactly 5 of 20 concurrent server creates through a quota of 5 instances', async () => {
      const project = `${tag}-race`;
      await quotas.update(project, { values: { instances: 5 }, force: false }, 'admin');
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          sources[i % sources.length].transaction(async (tx) => {
            await new QuotaService(sources[i % sources.length]).checkServerCreate(tx, project, { instances: 1, cores: 1, ramMb: 512 });
            return insertServer(tx, project);
          }),
        ),
      );
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      expect(refused).toHaveLength(15);
      for (const r of refused) {
        expect(r.reason).toBeInstanceOf(QuotaExceededError);
        expect(r.reason.message).toBe('Quota exceeded for instances: Requested 1, but already used 5 of 5 instances');
      }
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM compute.servers WHERE project_id = $1 AND deleted_at IS NULL`, [project]);
      expect(n).toBe(5);
    });

    it('names cores, then ram, when they run out first; deleted servers do not count', async () => {
      const project = `${tag}-cores`;
      await quotas.update(project, { values: { cores: 4, ram: 4096 }, force: false }, 'admin');
      const gone = await db.transaction((tx) => insertServer(tx, project, { vcpus: 4, ramMb: 4096 }));
      await db.query(`UPDATE compute.servers SET deleted_at = now() WHERE id = $1`, [gone]);
      await db.transaction(async (tx) => {
        await quotas.checkServerCreate(tx, project, { instances: 1, cores: 3, ramMb: 1024 });
        await insertServer(tx, project, { vcpus: 3, ramMb: 1024 });
      });
      const attempt = (want: { instances: number; cores: number; ramMb: number }) =>
        db.transaction((tx) => quotas.checkServerCreate(tx, project, want));
      await expect(attempt({ instances: 1, cores: 2, ramMb: 512 })).rejects.toThrow('Quota exceeded for cores: Requested 2, but already used 3 of 4 cores');
      await expect(attempt({ instances: 1, cores: 1, ramMb: 4000 })).rejects.toThrow('Quota exceeded for ram: Requested 4000, but already used 1024 of 4096 ram');
      await expect(attempt({ instances: 1, cores: 1, ramMb: 3072 })).resolves.toBeUndefined();
    });

    it('refuses to run outside a transaction, where the lock would protect nothing', async () => {
      await expect(quotas.checkServerCreate(db.manager, `${tag}-x`, { instances: 1, cores: 1, ramMb: 1 })).rejects.toThrow(/inside a transaction/);
    });

    it('refuses a limit below usage unless forced, and resets to defaults', async () => {
      const project = `${tag}-cores`;
      await expect(quotas.update(project, { values: { instances: 0 }, force: false }, 'admin')).rejects.toThrow(
        'Quota limit 0 for instances must be greater than or equal to already used and reserved 1.',
      );
      expect((await quotas.update(project, { values: { instances: 0 }, force: true }, 'admin')).instances).toBe(0);
      await quotas.reset(project);
      expect(await quotas.limits(db, project)).toMatchObject({ instances: 10, cores: 20, ram: 51200 });
    });
  });

  describe(KeypairsService.name, () => {
    it('generates, imports, lists per user, refuses duplicates and the quota, deletes', async () => {
      const keys = new KeypairsService(db, quotas);
      const me = { userId: `${tag}-alice`, projectId: `${tag}-kp` };
      await quotas.update(me.projectId, { values: { key_pairs: 2 }, force: false }, 'admin');
      const generated = await keys.create({ name: 'gen' }, me);
      expect(generated.privateKey).toMatch(/BEGIN RSA PRIVATE KEY/);
      expect(generated.keypair.publicKey).toMatch(/^ssh-rsa /);
      const imported = await keys.create({ name: 'imp', publicKey: generated.keypair.publicKey }, me);
      expect(imported.privateKey).toBeUndefined();
      expect(imported.keypair.fingerprint).toBe(generated.keypair.fingerprint);
      await expect(keys.create({ name: 'third', publicKey: generated.keypair.publicKey }, me)).rejects.toThrow(
        new QuotaExceededError('Quota exceeded, too many key pairs.'),
      );
      await keys.delete(me.userId, 'imp');
      await expect(keys.create({ name: 'gen', publicKey: generated.keypair.publicKey }, me)).rejects.toThrow(
        new ConflictError("Key pair 'gen' already exists."),
      );
      // Another user may reuse the name.
      await keys.create({ name: 'gen', publicKey: generated.keypair.publicKey }, { ...me, userId: `${tag}-bob` });
      expect((await keys.list(me.userId)).map((k) => k.name)).toEqual(['gen']);
      await expect(keys.get(me.userId, 'imp')).rejects.toThrow(new NotFoundError(`Keypair imp not found for user ${me.userId}`));
      await expect(keys.delete(me.userId, 'imp')).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe(GroupsService.name, () => {
    it('creates within quota, hides other projects\' groups, adds members inside a server create', async () => {
      const groups = new GroupsService(db, quotas);
      const a = auth('ga');
      await quotas.update(a.projectId, { values: { server_groups: 1, server_group_members: 1 }, force: false }, 'admin');
      const { group } = await groups.create({ name: 'g1', policy: 'anti-affinity' }, a);
      await expect(groups.create({ name: 'g2', policy: 'affinity' }, a)).rejects.toThrow(
        new QuotaExceededError('Quota exceeded, too many server groups.'),
      );
      await expect(groups.get(group.id, auth('gb'))).rejects.toThrow(new NotFoundError(`Instance group ${group.id} could not be found.`));
      expect((await groups.get(group.id, auth('gb', { admin: true }))).group.id).toBe(group.id);

      // Another project's group in a server create answers NotFound and adds nothing.
      await expect(db.transaction((tx) => groups.addMember(tx, group.id, randomUUID(), auth('gb').projectId))).rejects.toBeInstanceOf(NotFoundError);
      // Membership first, server row second: the deferred key allows either order.
      const serverId = await db.transaction(async (tx) => {
        const id = randomUUID();
        await groups.addMember(tx, group.id, id, a.projectId);
        await insertServer(tx, a.projectId, undefined, id);
        return id;
      });
      expect((await groups.get(group.id, a)).members).toEqual([serverId]);
      await expect(db.transaction(async (tx) => {
        const id = await insertServer(tx, a.projectId);
        await groups.addMember(tx, group.id, id, a.projectId);
      })).rejects.toThrow(new QuotaExceededError('Quota exceeded, too many servers in group'));
      expect((await groups.list(a, { allProjects: false })).map((g) => g.members)).toEqual([[serverId]]);

      await groups.delete(group.id, a);
      await expect(groups.get(group.id, a)).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('host inventory', () => {
    const upsert = (id: string) =>
      db.query(
        `INSERT INTO compute.hosts AS h (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
         VALUES ($1, 'disabled', 'kvm', 8, 8192, 100, now(), now())
         ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()`,
        [id],
      );

    afterAll(async () => {
      await db.query(`DELETE FROM compute.allocations WHERE host_id LIKE $1`, [`${tag}-%`]);
      await db.query(`DELETE FROM compute.hosts WHERE id LIKE $1`, [`${tag}-%`]);
    });

    it('numbers each host once, however often its heartbeat upserts it, and sums its allocations', async () => {
      await upsert(`${tag}-h1`);
      const [first] = await loadHosts(db, { hostId: `${tag}-h1` });
      for (let i = 0; i < 10; i++) await upsert(`${tag}-h1`);
      await upsert(`${tag}-h2`);
      const [again] = await loadHosts(db, { hostId: `${tag}-h1` });
      const [second] = await loadHosts(db, { hostId: `${tag}-h2` });
      expect(again.hypervisorId).toBe(first.hypervisorId);
      // Ten upserts burnt no numbers (a few may go to hosts other specs add meanwhile).
      expect(second.hypervisorId).toBeGreaterThan(first.hypervisorId);
      expect(second.hypervisorId).toBeLessThan(first.hypervisorId + 5);

      await db.query(`INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb) VALUES ($1, $2, 2, 1024, 10), ($3, $2, 1, 512, 5)`,
        [randomUUID(), `${tag}-h1`, randomUUID()]);
      expect((await loadHosts(db, { hypervisorId: first.hypervisorId }))[0]).toMatchObject({
        id: `${tag}-h1`, usedVcpus: 3, usedRamMb: 1536, usedDiskGb: 15, vcpus: 8, state: 'disabled',
      });
      expect((await loadHosts(db, { hostLike: `${tag}-h` })).map((h) => h.id)).toEqual([`${tag}-h1`, `${tag}-h2`]);
    });
  });

  describe(FlavorsService.name, () => {
    it('creates, refuses duplicates, hides private flavors without access, keeps extra specs', async () => {
      const flavors = new FlavorsService(db);
      const spec = { ramMb: 256, vcpus: 1, diskGb: 1, ephemeralGb: 0, swapMb: 0, rxtxFactor: 1, isPublic: false };
      const f = await flavors.create({ ...spec, name: `${tag}-private` });
      expect(f.id).toMatch(/^[0-9a-f-]{36}$/);
      await expect(flavors.create({ ...spec, name: `${tag}-private` })).rejects.toThrow(new ConflictError(`Flavor with name ${tag}-private already exists.`));
      await expect(flavors.create({ ...spec, name: `${tag}-other`, id: f.id })).rejects.toThrow(new ConflictError(`Flavor with ID ${f.id} already exists.`));

      const member = auth('fl');
      const visible = async (a: AuthContext) =>
        (await flavors.list(a, { isPublic: true, sortKey: 'flavorid', sortDir: 'ASC' })).some((x) => x.id === f.id);
      expect(await visible(member)).toBe(false);
      await expect(flavors.get(f.id, member)).rejects.toBeInstanceOf(NotFoundError);
      expect(await flavors.addAccess(f.id, member.projectId)).toEqual([{ flavor_id: f.id, tenant_id: member.projectId }]);
      await expect(flavors.addAccess(f.id, member.projectId)).rejects.toBeInstanceOf(ConflictError);
      expect(await visible(member)).toBe(true);
      expect((await flavors.get(f.id, member)).id).toBe(f.id);

      await flavors.setSpecs(f.id, { 'hw:cpu_policy': 'dedicated', a: '1' });
      await flavors.setSpecs(f.id, { a: '2' });
      expect((await flavors.get(f.id, member)).extraSpecs).toEqual({ 'hw:cpu_policy': 'dedicated', a: '2' });
      await flavors.deleteSpec(f.id, 'a');
      await expect(flavors.deleteSpec(f.id, 'a')).rejects.toThrow(`Flavor ${f.id} has no extra specs with key a.`);

      await flavors.delete(f.id);
      await expect(flavors.delete(f.id)).rejects.toThrow(new NotFoundError(`Flavor ${f.id} could not be found.`));
    });
  });
});
