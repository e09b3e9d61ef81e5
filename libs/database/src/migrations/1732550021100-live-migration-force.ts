import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nova's `force` for os-migrateLive (2.30; a host named before 2.30 behaves the same): the
 * scheduler uses the requested host as given, claiming only its capacity, instead of checking it
 * with every filter.
 */
export class LiveMigrationForce1732550021100 implements MigrationInterface {
  name = 'LiveMigrationForce1732550021100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.migrations ADD COLUMN force_destination boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.migrations DROP COLUMN force_destination`);
  }
}
