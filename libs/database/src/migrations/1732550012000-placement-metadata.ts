import { MigrationInterface, QueryRunner } from 'typeorm';

const INVENTORY = [
  'accelerator',
  'vcpus',
  'ram_mb',
  'disk_gb',
  'reserved_vcpus',
  'reserved_ram_mb',
  'reserved_disk_gb',
  'cpu_allocation_ratio',
  'ram_allocation_ratio',
  'disk_allocation_ratio',
];

/**
 * A version number for what the scheduler caches besides usage and state: aggregates (with their
 * metadata and zones), aggregate memberships, host traits, and hosts' inventories. Every row
 * written to those tables bumps it (row triggers: a statement that changes nothing bumps
 * nothing), and so does a host whose inventory really changed (a heartbeat rewriting the same
 * numbers does not; claims do not touch those columns, so they never fire it). A scheduler reloads its cached
 * hosts in full when the version moved, and a claim decided on an older version is refused
 * (host-usage.ts CLAIM_SERVER_SQL), so no placement ever stands on stale aggregate metadata.
 */
export class PlacementMetadata1732550012000 implements MigrationInterface {
  name = 'PlacementMetadata1732550012000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE compute.placement_metadata (
      id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
      version bigint NOT NULL DEFAULT 1)`);
    await q.query(`INSERT INTO compute.placement_metadata (id) VALUES (1)`);
    await q.query(`CREATE FUNCTION compute.bump_placement_metadata() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE compute.placement_metadata SET version = version + 1 WHERE id = 1;
        RETURN NULL;
      END $$`);
    for (const table of ['aggregates', 'aggregate_hosts', 'host_traits']) {
      await q.query(`CREATE TRIGGER ${table}_placement_metadata AFTER INSERT OR UPDATE OR DELETE ON compute.${table}
        FOR EACH ROW EXECUTE FUNCTION compute.bump_placement_metadata()`);
    }
    const old = INVENTORY.map((c) => `OLD.${c}`).join(', ');
    const now = INVENTORY.map((c) => `NEW.${c}`).join(', ');
    await q.query(`CREATE TRIGGER hosts_placement_inventory AFTER UPDATE OF ${INVENTORY.join(', ')} ON compute.hosts
      FOR EACH ROW WHEN ((${old}) IS DISTINCT FROM (${now})) EXECUTE FUNCTION compute.bump_placement_metadata()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS hosts_placement_inventory ON compute.hosts`);
    for (const table of ['aggregates', 'aggregate_hosts', 'host_traits']) {
      await q.query(`DROP TRIGGER IF EXISTS ${table}_placement_metadata ON compute.${table}`);
    }
    await q.query(`DROP FUNCTION IF EXISTS compute.bump_placement_metadata()`);
    await q.query(`DROP TABLE IF EXISTS compute.placement_metadata`);
  }
}
