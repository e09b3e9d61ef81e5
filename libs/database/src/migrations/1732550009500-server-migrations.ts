import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nova's migration records: one per resize (and, with live migration, per move). The record's id
 * is the placement consumer of what the server held before (its old flavor on the source host)
 * until confirm or revert; old and new flavors travel with it so revert needs nothing else.
 */
export class ServerMigrations1732550009500 implements MigrationInterface {
  name = 'ServerMigrations1732550009500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE compute.migrations (
      id uuid PRIMARY KEY, server_id uuid NOT NULL, project_id text NOT NULL,
      migration_type text NOT NULL, status text NOT NULL,
      source_host text NOT NULL, dest_host text NOT NULL,
      old_flavor_id text NOT NULL, old_flavor jsonb NOT NULL, new_flavor_id text NOT NULL, new_flavor jsonb NOT NULL,
      old_vm_state text NOT NULL, request_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);
    // At most one unfinished move per server.
    await q.query(`CREATE UNIQUE INDEX migrations_one_open_per_server ON compute.migrations (server_id)
      WHERE status IN ('pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', 'reverting')`);
    await q.query(`CREATE INDEX migrations_project ON compute.migrations (project_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE compute.migrations`);
  }
}
