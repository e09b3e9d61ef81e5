import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Neutron's L3 (issue #7): routers (their interface and gateway ports are ordinary ports with
 * device_id = the router and device_owner network:router_interface / network:router_gateway) and
 * floating IPs (each holds a network:floatingip port on the external network, whose
 * ip_allocations row makes the address unique). One floating IP per fixed address of a port.
 */
export class Routers1732550016000 implements MigrationInterface {
  name = 'Routers1732550016000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE network.routers (
      id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL DEFAULT '', description text NOT NULL DEFAULT '',
      admin_state_up boolean NOT NULL DEFAULT true, status text NOT NULL DEFAULT 'ACTIVE',
      gw_network_id uuid REFERENCES network.networks(id), enable_snat boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), revision_number int NOT NULL DEFAULT 0)`);
    await q.query(`CREATE INDEX routers_project ON network.routers (project_id)`);
    await q.query(`CREATE TABLE network.floating_ips (
      id uuid PRIMARY KEY, project_id text NOT NULL, description text NOT NULL DEFAULT '',
      floating_network_id uuid NOT NULL REFERENCES network.networks(id),
      floating_port_id uuid NOT NULL REFERENCES network.ports(id) ON DELETE CASCADE,
      floating_ip_address inet NOT NULL,
      fixed_port_id uuid REFERENCES network.ports(id) ON DELETE SET NULL, fixed_ip_address inet,
      router_id uuid REFERENCES network.routers(id),
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), revision_number int NOT NULL DEFAULT 0)`);
    await q.query(`CREATE INDEX floating_ips_project ON network.floating_ips (project_id)`);
    await q.query(`CREATE INDEX floating_ips_router ON network.floating_ips (router_id) WHERE router_id IS NOT NULL`);
    await q.query(`CREATE UNIQUE INDEX floating_ips_fixed ON network.floating_ips (fixed_port_id, fixed_ip_address) WHERE fixed_port_id IS NOT NULL`);
    // A port deleted under a floating IP leaves it unassociated: its router goes too.
    await q.query(`CREATE FUNCTION network.floating_ips_unassociate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.fixed_port_id IS NULL THEN NEW.fixed_ip_address := NULL; NEW.router_id := NULL; END IF; RETURN NEW; END $$`);
    await q.query(`CREATE TRIGGER floating_ips_unassociate BEFORE UPDATE ON network.floating_ips
      FOR EACH ROW EXECUTE FUNCTION network.floating_ips_unassociate()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS network.floating_ips`);
    await q.query(`DROP FUNCTION IF EXISTS network.floating_ips_unassociate()`);
    await q.query(`DROP TABLE IF EXISTS network.routers`);
  }
}
