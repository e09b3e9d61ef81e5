/** Agent-reported traits against real PostgreSQL: replaced as a set, admin-set CUSTOM_* traits untouched. */
import { createDataSource, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AgentTraits } from './agent-traits';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

run(AgentTraits.name, () => {
  const host = `it-${randomUUID().slice(0, 8)}-traits`;
  let db: DataSource;

  const traits = async () =>
    db.query(`SELECT trait, source FROM compute.host_traits WHERE host_id = $1 ORDER BY trait`, [host]) as Promise<Array<{ trait: string; source: string }>>;

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['compute'], applicationName: 'agent-traits-it', poolSize: 2 });
    await db.initialize();
    await migrateLocked(db);
    await db.query(
      `INSERT INTO compute.hosts (id, state, accelerator, vcpus, ram_mb, disk_gb, last_heartbeat_at, agent_started_at)
       VALUES ($1, 'up', 'kvm', 4, 4096, 100, now(), now())`,
      [host],
    );
    await db.query(`INSERT INTO compute.host_traits (host_id, trait, source) VALUES ($1, 'CUSTOM_RACK_A', 'admin')`, [host]);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.hosts WHERE id = $1`, [host]);
    await db.destroy();
  });

  it('stores the reported set, replaces it when it changes, and never touches admin traits', async () => {
    const sync = new AgentTraits(db);
    await expect(sync.sync(host, ['COMPUTE_ACCEL_TCG', 'COMPUTE_ACCEL_KVM', 'HW_CPU_X86_AVX2'])).resolves.toBe(true);
    expect(await traits()).toEqual([
      { trait: 'COMPUTE_ACCEL_KVM', source: 'agent' },
      { trait: 'COMPUTE_ACCEL_TCG', source: 'agent' },
      { trait: 'CUSTOM_RACK_A', source: 'admin' },
      { trait: 'HW_CPU_X86_AVX2', source: 'agent' },
    ]);
    // A new scheduler process finds the same set stored: nothing written.
    await expect(new AgentTraits(db).sync(host, ['HW_CPU_X86_AVX2', 'COMPUTE_ACCEL_KVM', 'COMPUTE_ACCEL_TCG'])).resolves.toBe(false);
    // KVM gone (the agent restarted without /dev/kvm): replaced.
    await expect(sync.sync(host, ['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2'])).resolves.toBe(true);
    expect(await traits()).toEqual([
      { trait: 'COMPUTE_ACCEL_TCG', source: 'agent' },
      { trait: 'CUSTOM_RACK_A', source: 'admin' },
      { trait: 'HW_CPU_X86_AVX2', source: 'agent' },
    ]);
    // A CUSTOM_ name in a heartbeat is not the agent's to set.
    await sync.sync(host, ['COMPUTE_ACCEL_TCG', 'CUSTOM_RACK_A', 'CUSTOM_EVIL']);
    expect(await traits()).toEqual([
      { trait: 'COMPUTE_ACCEL_TCG', source: 'agent' },
      { trait: 'CUSTOM_RACK_A', source: 'admin' },
    ]);
  });
});
