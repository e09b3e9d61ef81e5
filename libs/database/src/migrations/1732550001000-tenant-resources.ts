import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nova's tenant resources: key pairs (per user), server groups and their members, project quota
 * limits (absent row = default), flavor access for private flavors. Hosts get a stable integer id
 * (Nova 2.1 hypervisor and service ids are integers, see host_numbers) and a reason for being disabled.
 */
export class TenantResources1732550001000 implements MigrationInterface {
  name = 'TenantResources1732550001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE compute.key_pairs (
      id bigserial PRIMARY KEY, user_id text NOT NULL, project_id text NOT NULL, name text NOT NULL,
      type text NOT NULL DEFAULT 'ssh', public_key text NOT NULL, fingerprint text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (user_id, name))`);

    await q.query(`CREATE TABLE compute.server_groups (
      id uuid PRIMARY KEY, project_id text NOT NULL, user_id text NOT NULL, name text NOT NULL,
      policy text NOT NULL CHECK (policy IN ('affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity')),
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX server_groups_project ON compute.server_groups (project_id, created_at)`);
    // Deferred server FK: a server create may add the membership before or after the server row.
    await q.query(`CREATE TABLE compute.server_group_members (
      group_id uuid NOT NULL REFERENCES compute.server_groups(id) ON DELETE CASCADE,
      server_id uuid NOT NULL UNIQUE REFERENCES compute.servers(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
      created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (group_id, server_id))`);

    await q.query(`CREATE TABLE compute.quota_limits (
      project_id text NOT NULL, resource text NOT NULL, hard_limit int NOT NULL CHECK (hard_limit >= -1),
      updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (project_id, resource))`);

    await q.query(`CREATE TABLE compute.flavor_projects (
      flavor_id text NOT NULL REFERENCES compute.flavors(id) ON DELETE CASCADE, project_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (flavor_id, project_id))`);
    await q.query(`ALTER TABLE compute.flavors ADD COLUMN rxtx_factor real NOT NULL DEFAULT 1`);

    await q.query(`ALTER TABLE compute.hosts ADD COLUMN disabled_reason text`);
    // Numbered by an AFTER INSERT trigger, not a column default: the scheduler upserts every host
    // on each heartbeat, and a default would burn a sequence value per heartbeat.
    await q.query(`CREATE TABLE compute.host_numbers (
      host_id text PRIMARY KEY REFERENCES compute.hosts(id) ON DELETE CASCADE, hypervisor_id serial NOT NULL UNIQUE)`);
    await q.query(`INSERT INTO compute.host_numbers (host_id) SELECT id FROM compute.hosts ORDER BY created_at, id`);
    await q.query(`CREATE FUNCTION compute.number_host() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO compute.host_numbers (host_id) VALUES (NEW.id) ON CONFLICT DO NOTHING; RETURN NULL; END $$`);
    await q.query(`CREATE TRIGGER hosts_number AFTER INSERT ON compute.hosts FOR EACH ROW EXECUTE FUNCTION compute.number_host()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER hosts_number ON compute.hosts`);
    await q.query(`DROP FUNCTION compute.number_host()`);
    await q.query(`DROP TABLE compute.host_numbers`);
    await q.query(`ALTER TABLE compute.hosts DROP COLUMN disabled_reason`);
    await q.query(`ALTER TABLE compute.flavors DROP COLUMN rxtx_factor`);
    for (const table of ['flavor_projects', 'quota_limits', 'server_group_members', 'server_groups', 'key_pairs']) {
      await q.query(`DROP TABLE IF EXISTS compute.${table}`);
    }
  }
}
