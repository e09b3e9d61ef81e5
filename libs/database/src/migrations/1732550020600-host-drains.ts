import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Host drains (POST /nubo/v1/hosts/{id}/drain): one open drain per host, the state to give the
 * host back on undrain, and per server the live migration started (or why none could start).
 */
export class HostDrains1732550020600 implements MigrationInterface {
  name = 'HostDrains1732550020600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE compute.host_drains (
        id uuid PRIMARY KEY,
        host_id text NOT NULL,
        previous_state text NOT NULL,
        previous_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        undrained_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX host_drains_open_idx ON compute.host_drains (host_id) WHERE undrained_at IS NULL`);
    await q.query(`
      CREATE TABLE compute.host_drain_servers (
        drain_id uuid NOT NULL REFERENCES compute.host_drains (id) ON DELETE CASCADE,
        server_id uuid NOT NULL,
        migration_id uuid,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (drain_id, server_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE compute.host_drain_servers`);
    await q.query(`DROP TABLE compute.host_drains`);
  }
}
