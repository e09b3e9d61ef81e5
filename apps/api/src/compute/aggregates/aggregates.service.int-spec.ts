/**
 * Aggregates, zones and host traits against real PostgreSQL: membership and zone rules (a host in
 * at most one zone, servers never change zone), delete with hosts, concurrent adds, the zone a
 * server create stores and the one its view reads, and admin traits beside an agent's.
 */
import { ConflictError, NotFoundError, PowerState, TaskState, ValidationError, VmState } from '@nubo/contracts';
import { ServerEntity, createDataSource, migrateLocked } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { loadTraits, replaceAdminTraits } from '../../nubo/host-traits';
import { zoneList } from '../availability-zones/zones';
import { FlavorsService } from '../flavors/flavors.service';
import { loadHosts } from '../hypervisors/host-inventory';
import { KeypairsService } from '../keypairs/keypairs.service';
import { QuotaService } from '../quotas/quota.service';
import { GroupsService } from '../server-groups/groups.service';
import { ServersService } from '../servers.service';
import { AggregatesService } from './aggregates.service';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run(`${AggregatesService.name} (PostgreSQL)`, () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  const [h1, h2, h3] = [1, 2, 3].map((n) => `${tag}-h${n}`);
  const az = (name: string) => `${tag}-${name}`;
  const auth = { userId: `${tag}-u`, projectId: `${tag}-p`, isAdmin: false, roles: [] } as unknown as AuthContext;
  let db: DataSource;
  let aggregates: AggregatesService;

  const create = (name: string, zone: string | null = null) => aggregates.create({ name: az(name), availabilityZone: zone });
  const add = (id: number, host: string) => aggregates.act(String(id), { action: 'add_host', host });
  const remove = (id: number, host: string) => aggregates.act(String(id), { action: 'remove_host', host });
  const setMetadata = (id: number, metadata: Record<string, string | null>) => aggregates.act(String(id), { action: 'set_metadata', metadata });
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);

  async function addServer(host: string): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, task_state, power_state, request_id, host_id)
       VALUES ($1, $2, 'u', $3, '1', $4, $5, NULL, $6, 'req', $7)`,
      [id, auth.projectId, `${tag}-${id}`, { vcpus: 1, ramMb: 512, diskGb: 1, name: 'm1.tiny' }, VmState.Active, PowerState.Running, host],
    );
    return id;
  }

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['identity', 'compute'], applicationName: 'aggregates-it', poolSize: 6 });
    await db.initialize();
    await migrateLocked(db);
    for (const h of [h1, h2, h3]) {
      await db.query(
        `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
         VALUES ($1, 'up', 'kvm', 4, 4096, 100, now(), now())`,
        [h],
      );
    }
    aggregates = new AggregatesService(db);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.servers WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.aggregates WHERE name LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.hosts WHERE id LIKE $1`, [`${tag}-%`]);
    await db.destroy();
  });

  it('creates, names uniquely among live aggregates, and frees the name on delete', async () => {
    const a = await create('uniq', az('z-uniq'));
    expect(a).toMatchObject({ name: az('uniq'), availabilityZone: az('z-uniq'), hosts: [], metadata: {}, updatedAt: null, deletedAt: null });
    const dup = await failure(create('uniq'));
    expect(dup).toBeInstanceOf(ConflictError);
    expect(dup!.message).toBe(`Aggregate ${az('uniq')} already exists.`);
    await aggregates.delete(String(a.id));
    await expect(aggregates.get(String(a.id))).rejects.toThrow(new NotFoundError(`Aggregate ${a.id} could not be found.`));
    expect((await aggregates.list()).map((x) => x.id)).not.toContain(a.id);
    expect((await create('uniq')).id).toBeGreaterThan(a.id);
  });

  it('adds and removes hosts: unknown host 404, twice 409, not a member 404', async () => {
    const a = await create('members');
    await expect(add(a.id, `${tag}-nohost`)).rejects.toThrow(new NotFoundError(`Compute host ${tag}-nohost could not be found.`));
    expect((await add(a.id, h3)).hosts).toEqual([h3]);
    await expect(add(a.id, h3)).rejects.toThrow(new ConflictError(`Aggregate ${a.id} already has host ${h3}.`));
    await expect(remove(a.id, h2)).rejects.toThrow(new NotFoundError(`Cannot remove host ${h2} in aggregate ${a.id}`));
    await expect(remove(999999, h3)).rejects.toThrow(new NotFoundError(`Cannot remove host ${h3} in aggregate 999999`));
    expect((await remove(a.id, h3)).hosts).toEqual([]);
  });

  it('refuses to delete an aggregate that still has hosts (400), then deletes it once empty', async () => {
    const a = await create('full');
    await add(a.id, h3);
    const error = await failure(aggregates.delete(String(a.id)));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error!.message).toBe(`Cannot remove host from aggregate ${a.id}. Reason: Host aggregate is not empty.`);
    expect((await aggregates.get(String(a.id))).hosts).toEqual([h3]);
    await remove(a.id, h3);
    await aggregates.delete(String(a.id));
  });

  it('keeps a host in one zone: a second zone is refused on add (409), set_metadata and update (400)', async () => {
    const one = await create('zone-one', az('az1'));
    const two = await create('zone-two', az('az2'));
    const same = await create('zone-same', az('az1'));
    const plain = await create('zone-none');
    await add(one.id, h1);
    const refused = await failure(add(two.id, h1));
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused!.message).toBe(`Cannot add host to aggregate ${two.id}. Reason: One or more hosts already in availability zone(s) ['${az('az1')}'].`);
    expect((await add(same.id, h1)).hosts).toEqual([h1]);
    expect((await add(plain.id, h1)).hosts).toEqual([h1]);
    expect((await loadHosts(db, { hostId: h1 }))[0].zone).toBe(az('az1'));

    // Giving a zone-less aggregate of h1 another zone, either way.
    const viaMetadata = await failure(setMetadata(plain.id, { availability_zone: az('az2') }));
    expect(viaMetadata).toBeInstanceOf(ValidationError);
    expect(viaMetadata!.message).toMatch(/^Cannot update metadata of aggregate \d+\. Reason: One or more hosts already in availability zone\(s\) \['.*-az1', '.*-az1'\]\.$/);
    const viaUpdate = await failure(aggregates.update(String(plain.id), { availabilityZone: az('az2') }));
    expect(viaUpdate).toBeInstanceOf(ValidationError);
    expect(viaUpdate!.message).toMatch(/^Cannot update aggregate \d+\. Reason: One or more hosts already in/);
    expect((await aggregates.get(String(plain.id))).availabilityZone).toBeNull();

    // Nova never clears a zone.
    const cleared = await failure(aggregates.update(String(one.id), { availabilityZone: null }));
    expect(cleared!.message).toBe(`Cannot update aggregate ${one.id}. Reason: Aggregate ${az('zone-one')} does not support empty named availability zone.`);
    await expect(setMetadata(one.id, { availability_zone: null })).rejects.toBeInstanceOf(ValidationError);

    for (const a of [one, same, plain]) await remove(a.id, h1);
    expect((await loadHosts(db, { hostId: h1 }))[0].zone).toBe('nova');
  });

  it('lets exactly one of two concurrent adds of a host to different zones through', async () => {
    const x = await create('race-x', az('race-x'));
    const y = await create('race-y', az('race-y'));
    const results = await Promise.allSettled([add(x.id, h2), add(y.id, h2)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    const [row] = await db.query(`SELECT count(*)::int AS n FROM compute.aggregate_hosts WHERE host_id = $1`, [h2]);
    expect(row.n).toBe(1);
    for (const a of [x, y]) await remove(a.id, h2).catch(() => undefined);
  });

  it('never moves servers to another zone: add (409), remove (409) and zone changes (400) are refused', async () => {
    const a = await create('busy', az('busy'));
    await addServer(h3);
    const added = await failure(add(a.id, h3));
    expect(added).toBeInstanceOf(ConflictError);
    expect(added!.message).toContain(`would change from 'None' to '${az('busy')}' but the host already has 1 instance(s).`);

    // Zone-less aggregates take hosts with servers; giving them a zone then is refused.
    const b = await create('busy-plain');
    await add(b.id, h3);
    const zoned = await failure(setMetadata(b.id, { availability_zone: az('busy2') }));
    expect(zoned!.message).toBe(`Cannot update metadata of aggregate ${b.id}. Reason: One or more hosts contain instances in this zone.`);

    // A host put in a zone before its server came cannot leave it.
    await db.query(`UPDATE compute.servers SET host_id = NULL WHERE host_id = $1 AND project_id = $2`, [h3, auth.projectId]);
    await add(a.id, h3);
    await addServer(h3);
    const removed = await failure(remove(a.id, h3));
    expect(removed).toBeInstanceOf(ConflictError);
    expect(removed!.message).toContain(`would change from '${az('busy')}' to 'None'`);

    await db.query(`UPDATE compute.servers SET deleted_at = now() WHERE host_id = $1 AND project_id = $2`, [h3, auth.projectId]);
    await remove(a.id, h3);
    await remove(b.id, h3);
  });

  it('merges metadata: null removes a key, availability_zone sets the zone', async () => {
    const a = await create('meta');
    const set = await setMetadata(a.id, { ssd: 'true', rack: '4' });
    expect(set.metadata).toEqual({ ssd: 'true', rack: '4' });
    expect(set.updatedAt).toBeInstanceOf(Date);
    const after = await setMetadata(a.id, { rack: null, missing: null, availability_zone: az('meta-az') });
    expect(after).toMatchObject({ metadata: { ssd: 'true' }, availabilityZone: az('meta-az') });
    const renamed = await aggregates.update(String(a.id), { name: az('meta-renamed') });
    expect(renamed).toMatchObject({ name: az('meta-renamed'), availabilityZone: az('meta-az') });
    await create('meta-taken');
    await expect(aggregates.update(String(a.id), { name: az('meta-taken') })).rejects.toThrow(new ConflictError(`Aggregate ${az('meta-taken')} already exists.`));
  });

  it('lists the zones hosts are in, and a server create stores the zone its view shows', async () => {
    const a = await create('servers', az('srv'));
    await add(a.id, h1);
    expect(zoneList(await loadHosts(db), new Date()).map((z) => z.zoneName)).toContain(az('srv'));

    const enqueued: string[] = [];
    const jobs = { enqueue: async (_name: string, payload: { serverId: string }) => void enqueued.push(payload.serverId) } as unknown as JobQueue;
    const quotas = new QuotaService(db);
    const servers = new ServersService(db, jobs, {} as RpcClient, new FlavorsService(db), quotas, new GroupsService(db, quotas), new KeypairsService(db, quotas));
    const body = (zone?: string) => ({ server: { name: `${tag}-vm`, flavorRef: '42', ...(zone === undefined ? {} : { availability_zone: zone }) } });

    const created = await servers.create(servers.parseCreate(body(az('srv'))), auth, `${tag}-r1`);
    expect(created).toMatchObject({ availabilityZone: az('srv'), forcedHost: null, hostId: null, taskState: TaskState.Scheduling });
    await db.query(`UPDATE compute.servers SET host_id = $2 WHERE id = $1`, [created.id, h1]);
    expect((await db.getRepository(ServerEntity).findOneBy({ id: created.id }))!.hostAvailabilityZone).toBe(az('srv'));
    await db.query(`UPDATE compute.servers SET host_id = $2 WHERE id = $1`, [created.id, h2]);
    expect((await db.getRepository(ServerEntity).findOneBy({ id: created.id }))!.hostAvailabilityZone).toBeNull();

    const before = (await db.query(`SELECT count(*)::int AS n FROM compute.servers WHERE project_id = $1`, [auth.projectId]))[0].n;
    await expect(servers.create(servers.parseCreate(body(az('nope'))), auth, `${tag}-r2`)).rejects.toThrow(
      new ValidationError('The requested availability zone is not available'),
    );
    expect((await db.query(`SELECT count(*)::int AS n FROM compute.servers WHERE project_id = $1`, [auth.projectId]))[0].n).toBe(before);
    expect(enqueued).toEqual([created.id]);
    await db.query(`UPDATE compute.servers SET deleted_at = now(), host_id = NULL WHERE project_id = $1`, [auth.projectId]);
    await remove(a.id, h1);
  });

  it('replaces admin traits and leaves those its agent reports', async () => {
    await db.query(`INSERT INTO compute.host_traits (host_id, trait, source) VALUES ($1, 'HW_CPU_X86_AVX2', 'agent'), ($1, 'CUSTOM_AGENT', 'agent')`, [h2]);
    await db.transaction((tx) => replaceAdminTraits(tx, h2, ['CUSTOM_GPU', 'CUSTOM_AGENT', 'CUSTOM_OLD']));
    await db.transaction((tx) => replaceAdminTraits(tx, h2, ['CUSTOM_GPU', 'CUSTOM_AGENT']));
    expect(await loadTraits(db, h2)).toEqual([
      { name: 'CUSTOM_AGENT', source: 'agent' },
      { name: 'CUSTOM_GPU', source: 'admin' },
      { name: 'HW_CPU_X86_AVX2', source: 'agent' },
    ]);
    await db.transaction((tx) => replaceAdminTraits(tx, h2, []));
    expect((await loadTraits(db, h2)).map((t) => t.name)).toEqual(['CUSTOM_AGENT', 'HW_CPU_X86_AVX2']);
  });
});
