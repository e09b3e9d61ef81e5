import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-host usage counters (what the host's allocations hold, and how many consumers hold one),
 * kept in the transaction of every allocation insert and delete, so that a claim is one
 * conditional UPDATE of the host row instead of a SUM over allocations; reserved amounts
 * (Placement's `reserved`: capacity = floor((total - reserved) * ratio)); and recent build
 * failures, which the build-failure weigher reads and a successful build resets.
 */
export class HostUsage1732550011000 implements MigrationInterface {
  name = 'HostUsage1732550011000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.hosts
      ADD COLUMN used_vcpus int NOT NULL DEFAULT 0, ADD COLUMN used_ram_mb int NOT NULL DEFAULT 0,
      ADD COLUMN used_disk_gb int NOT NULL DEFAULT 0, ADD COLUMN instances int NOT NULL DEFAULT 0,
      ADD COLUMN reserved_vcpus int NOT NULL DEFAULT 0 CHECK (reserved_vcpus >= 0),
      ADD COLUMN reserved_ram_mb int NOT NULL DEFAULT 0 CHECK (reserved_ram_mb >= 0),
      ADD COLUMN reserved_disk_gb int NOT NULL DEFAULT 0 CHECK (reserved_disk_gb >= 0),
      ADD COLUMN recent_failures int NOT NULL DEFAULT 0, ADD COLUMN last_failure_at timestamptz`);
    // No claim or release may slip between the backfill's read and its commit.
    await q.query(`LOCK TABLE compute.allocations IN SHARE MODE`);
    await q.query(`UPDATE compute.hosts h SET used_vcpus = a.vcpus, used_ram_mb = a.ram_mb, used_disk_gb = a.disk_gb, instances = a.n
      FROM (SELECT host_id, SUM(vcpus)::int AS vcpus, SUM(ram_mb)::int AS ram_mb, SUM(disk_gb)::int AS disk_gb, count(*)::int AS n
              FROM compute.allocations GROUP BY host_id) a
     WHERE a.host_id = h.id`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.hosts
      DROP COLUMN used_vcpus, DROP COLUMN used_ram_mb, DROP COLUMN used_disk_gb, DROP COLUMN instances,
      DROP COLUMN reserved_vcpus, DROP COLUMN reserved_ram_mb, DROP COLUMN reserved_disk_gb,
      DROP COLUMN recent_failures, DROP COLUMN last_failure_at`);
  }
}
