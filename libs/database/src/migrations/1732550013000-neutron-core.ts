import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Neutron's core resources (issue #7): networks grow their attributes; subnets, ports, IP
 * allocations and security groups. The unique indexes are the last word on the races: one VNI per
 * network, one port per address, one default security group per project.
 */
export class NeutronCore1732550013000 implements MigrationInterface {
  name = 'NeutronCore1732550013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE network.networks
      ADD COLUMN description text NOT NULL DEFAULT '',
      ADD COLUMN admin_state_up boolean NOT NULL DEFAULT true,
      ADD COLUMN router_external boolean NOT NULL DEFAULT false,
      ADD COLUMN network_type text NOT NULL DEFAULT 'vxlan',
      ADD COLUMN physical_network text,
      ADD COLUMN segmentation_id int,
      ADD COLUMN mtu int NOT NULL DEFAULT 1450,
      ADD COLUMN port_security_enabled boolean NOT NULL DEFAULT true,
      ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN revision_number int NOT NULL DEFAULT 0`);
    await q.query(`CREATE UNIQUE INDEX networks_segment ON network.networks (network_type, coalesce(physical_network, ''), segmentation_id)
      WHERE segmentation_id IS NOT NULL`);
    await q.query(`CREATE UNIQUE INDEX networks_flat ON network.networks (physical_network) WHERE network_type = 'flat'`);
    await q.query(`CREATE INDEX networks_project ON network.networks (project_id)`);

    await q.query(`CREATE TABLE network.subnets (
      id uuid PRIMARY KEY, network_id uuid NOT NULL REFERENCES network.networks(id) ON DELETE CASCADE,
      project_id text NOT NULL, name text NOT NULL DEFAULT '', description text NOT NULL DEFAULT '',
      ip_version int NOT NULL, cidr cidr NOT NULL, gateway_ip inet,
      allocation_pools jsonb NOT NULL DEFAULT '[]', dns_nameservers jsonb NOT NULL DEFAULT '[]', host_routes jsonb NOT NULL DEFAULT '[]',
      enable_dhcp boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), revision_number int NOT NULL DEFAULT 0)`);
    await q.query(`CREATE INDEX subnets_network ON network.subnets (network_id)`);

    await q.query(`CREATE TABLE network.ports (
      id uuid PRIMARY KEY, network_id uuid NOT NULL REFERENCES network.networks(id),
      project_id text NOT NULL, name text NOT NULL DEFAULT '', description text NOT NULL DEFAULT '',
      mac_address text NOT NULL, admin_state_up boolean NOT NULL DEFAULT true, status text NOT NULL DEFAULT 'DOWN',
      device_id text NOT NULL DEFAULT '', device_owner text NOT NULL DEFAULT '', binding_host_id text NOT NULL DEFAULT '',
      port_security_enabled boolean NOT NULL DEFAULT true, allowed_address_pairs jsonb NOT NULL DEFAULT '[]',
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), revision_number int NOT NULL DEFAULT 0)`);
    await q.query(`CREATE UNIQUE INDEX ports_mac ON network.ports (network_id, mac_address)`);
    await q.query(`CREATE INDEX ports_project ON network.ports (project_id)`);

    await q.query(`CREATE TABLE network.ip_allocations (
      subnet_id uuid NOT NULL REFERENCES network.subnets(id), ip_address inet NOT NULL,
      port_id uuid NOT NULL REFERENCES network.ports(id) ON DELETE CASCADE, network_id uuid NOT NULL,
      PRIMARY KEY (subnet_id, ip_address))`);
    await q.query(`CREATE INDEX ip_allocations_port ON network.ip_allocations (port_id)`);

    await q.query(`CREATE TABLE network.security_groups (
      id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL DEFAULT '', description text NOT NULL DEFAULT '',
      is_default boolean NOT NULL DEFAULT false, stateful boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), revision_number int NOT NULL DEFAULT 0)`);
    await q.query(`CREATE UNIQUE INDEX security_groups_default ON network.security_groups (project_id) WHERE is_default`);
    await q.query(`CREATE TABLE network.security_group_rules (
      id uuid PRIMARY KEY, security_group_id uuid NOT NULL REFERENCES network.security_groups(id) ON DELETE CASCADE,
      project_id text NOT NULL, direction text NOT NULL, ethertype text NOT NULL, protocol text,
      port_range_min int, port_range_max int, remote_ip_prefix text,
      remote_group_id uuid REFERENCES network.security_groups(id) ON DELETE CASCADE,
      description text NOT NULL DEFAULT '', dedupe_key text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), revision_number int NOT NULL DEFAULT 0)`);
    await q.query(`CREATE UNIQUE INDEX security_group_rules_dedupe ON network.security_group_rules (security_group_id, dedupe_key)`);
    await q.query(`CREATE INDEX security_group_rules_project ON network.security_group_rules (project_id)`);
    await q.query(`CREATE TABLE network.port_security_groups (
      port_id uuid NOT NULL REFERENCES network.ports(id) ON DELETE CASCADE,
      security_group_id uuid NOT NULL REFERENCES network.security_groups(id),
      PRIMARY KEY (port_id, security_group_id))`);
    await q.query(`CREATE INDEX port_security_groups_group ON network.port_security_groups (security_group_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['port_security_groups', 'security_group_rules', 'security_groups', 'ip_allocations', 'ports', 'subnets']) {
      await q.query(`DROP TABLE IF EXISTS network.${t}`);
    }
    await q.query(`DROP INDEX IF EXISTS network.networks_segment`);
    await q.query(`DROP INDEX IF EXISTS network.networks_flat`);
    await q.query(`DROP INDEX IF EXISTS network.networks_project`);
    await q.query(`ALTER TABLE network.networks DROP COLUMN description, DROP COLUMN admin_state_up, DROP COLUMN router_external,
      DROP COLUMN network_type, DROP COLUMN physical_network, DROP COLUMN segmentation_id, DROP COLUMN mtu,
      DROP COLUMN port_security_enabled, DROP COLUMN updated_at, DROP COLUMN revision_number`);
  }
}
