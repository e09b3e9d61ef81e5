/**
 * The resize quota against real PostgreSQL: the upsize delta counts with the project's servers and
 * with the growth of its unfinished resizes (and reverts of downsizes), so two upsizes cannot both
 * take the last cores.
 */
import { PowerState, QuotaExceededError, VmState } from '@nubo/contracts';
import { MigrationStatus, createDataSource, insertMigration, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { QuotaService } from './quotas/quota.service';
import { checkResizeQuota } from './server-resize-quota';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run(checkResizeQuota.name, () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  let db: DataSource;
  let quotas: QuotaService;

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'resize-quota-it', poolSize: 3 });
    await db.initialize();
    await migrateLocked(db);
    quotas = new QuotaService(db);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.migrations WHERE project_id LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.servers WHERE project_id LIKE $1`, [`${tag}-%`]);
    await db.query(`DELETE FROM compute.quota_limits WHERE project_id LIKE $1`, [`${tag}-%`]);
    await db.destroy();
  });

  /** A project with one 1-vCPU, 512 MB server and a cores limit of 3. */
  async function project(): Promise<{ projectId: string; serverId: string }> {
    const projectId = `${tag}-${randomUUID().slice(0, 8)}`;
    const serverId = randomUUID();
    await db.query(
      `INSERT INTO compute.servers (id, project_id, user_id, name, flavor_id, flavor, vm_state, power_state, request_id)
       VALUES ($1, $2, 'u', $3, '1', $4, $5, $6, 'req')`,
      [serverId, projectId, `${tag}-${serverId}`, { vcpus: 1, ramMb: 512, diskGb: 1, name: 't' }, VmState.Active, PowerState.Running],
    );
    await db.query(`INSERT INTO compute.quota_limits (project_id, resource, hard_limit) VALUES ($1, 'cores', 3)`, [projectId]);
    return { projectId, serverId };
  }

  async function migration(p: { projectId: string; serverId: string }, status: MigrationStatus, from: number, to: number): Promise<void> {
    await insertMigration(db, {
      id: randomUUID(), serverId: p.serverId, projectId: p.projectId, migrationType: 'resize', status, sourceHost: 'h', destHost: 'h',
      oldFlavorId: 'a', oldFlavor: { vcpus: from, ramMb: 512, diskGb: 1, name: 'a' }, newFlavorId: 'b', newFlavor: { vcpus: to, ramMb: 512, diskGb: 1, name: 'b' },
      oldVmState: VmState.Active, requestId: 'req',
    });
  }

  const check = (projectId: string, cores: number) => db.transaction((tx) => checkResizeQuota(quotas, tx, projectId, { cores, ramMb: 0 }));

  it('takes an upsize up to the limit and refuses one past it with Nova\'s message', async () => {
    const p = await project();
    await expect(check(p.projectId, 2)).resolves.toBeUndefined();
    await expect(check(p.projectId, 3)).rejects.toThrow(new QuotaExceededError('Quota exceeded for cores: Requested 3, but already used 1 of 3 cores'));
    await expect(check(p.projectId, 0)).resolves.toBeUndefined();
  });

  it.each<[MigrationStatus, number, number, boolean]>([
    ['pre-migrating', 1, 3, true],
    ['post-migrating', 1, 3, true],
    ['reverting', 3, 1, true],
    ['finished', 1, 3, false],
    ['error', 1, 3, false],
    ['pre-migrating', 3, 1, false],
  ])('counts the growth of a %s resize from %d to %d cores: %s', async (status, from, to, counted) => {
    const p = await project();
    await migration(p, status, from, to);
    const attempt = check(p.projectId, 1);
    if (counted) await expect(attempt).rejects.toBeInstanceOf(QuotaExceededError);
    else await expect(attempt).resolves.toBeUndefined();
  });
});
