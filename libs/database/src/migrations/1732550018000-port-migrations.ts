import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Live migration, the network's part (issue 8): a server's ports also plumbed on the destination
 * host while they stay bound to the source (network.binding.migration-prepare), one row a port.
 * Commit moves binding_host_id and deletes the rows; abort deletes them. A port whose device or
 * binding host changes some other way (unbound, deleted, bound elsewhere) loses its row, so a
 * migration left behind never plumbs a port on a host it no longer concerns.
 */
export class PortMigrations1732550018000 implements MigrationInterface {
  name = 'PortMigrations1732550018000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE network.port_migrations (
      port_id uuid PRIMARY KEY REFERENCES network.ports(id) ON DELETE CASCADE,
      destination_host_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX port_migrations_destination ON network.port_migrations (destination_host_id)`);
    await q.query(`CREATE FUNCTION network.port_migrations_forget() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN DELETE FROM network.port_migrations WHERE port_id = NEW.id; RETURN NULL; END $$`);
    await q.query(`CREATE TRIGGER port_migrations_forget AFTER UPDATE OF device_id, binding_host_id ON network.ports
      FOR EACH ROW WHEN (OLD.device_id IS DISTINCT FROM NEW.device_id OR OLD.binding_host_id IS DISTINCT FROM NEW.binding_host_id)
      EXECUTE FUNCTION network.port_migrations_forget()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS port_migrations_forget ON network.ports`);
    await q.query(`DROP FUNCTION IF EXISTS network.port_migrations_forget()`);
    await q.query(`DROP TABLE IF EXISTS network.port_migrations`);
  }
}
