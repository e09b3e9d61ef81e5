import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nova host aggregates (integer ids, as Nova's API shows them), their hosts, Placement-style host
 * traits, and the availability zone a server was asked for (plus a forced host, admins only).
 * An aggregate's zone lives in its own column, not in metadata, so that "a host is in at most one
 * zone" can be checked with plain SQL.
 */
export class Aggregates1732550007000 implements MigrationInterface {
  name = 'Aggregates1732550007000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE compute.aggregates (
      id serial PRIMARY KEY,
      uuid uuid NOT NULL UNIQUE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
      availability_zone text CHECK (length(availability_zone) BETWEEN 1 AND 255),
      metadata jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz)`);
    // Nova: a name is unique among live aggregates; a deleted one frees it.
    await q.query(`CREATE UNIQUE INDEX aggregates_name ON compute.aggregates (name) WHERE deleted_at IS NULL`);
    await q.query(`CREATE TABLE compute.aggregate_hosts (
      aggregate_id int NOT NULL REFERENCES compute.aggregates (id) ON DELETE CASCADE,
      host_id text NOT NULL REFERENCES compute.hosts (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (aggregate_id, host_id))`);
    // "Which zone is host H in" is asked for every server view and every zone list.
    await q.query(`CREATE INDEX aggregate_hosts_host ON compute.aggregate_hosts (host_id)`);
    await q.query(`CREATE TABLE compute.host_traits (
      host_id text NOT NULL REFERENCES compute.hosts (id) ON DELETE CASCADE,
      trait text NOT NULL CHECK (trait ~ '^[A-Z0-9_]{1,255}$'),
      source text NOT NULL CHECK (source IN ('agent', 'admin')),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (host_id, trait))`);
    await q.query(`ALTER TABLE compute.servers ADD COLUMN availability_zone text, ADD COLUMN forced_host text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.servers DROP COLUMN IF EXISTS forced_host, DROP COLUMN IF EXISTS availability_zone`);
    await q.query(`DROP TABLE IF EXISTS compute.host_traits`);
    await q.query(`DROP TABLE IF EXISTS compute.aggregate_hosts`);
    await q.query(`DROP TABLE IF EXISTS compute.aggregates`);
  }
}
