import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Cold migrations (Nova's `migrate`, migration_type 'migration') in compute.migrations: the
 * scheduler's persisted workflow state (`cold`: the step reached, the source's disks, the
 * destination's NBD exports, why it ended). The other columns are a resize's (old and new flavor
 * the same); dest_host stays null until the scheduler chooses the destination.
 */
export class ColdMigrations1732550021000 implements MigrationInterface {
  name = 'ColdMigrations1732550021000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.migrations ADD COLUMN cold jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM compute.migrations WHERE migration_type = 'migration'`);
    await q.query(`ALTER TABLE compute.migrations DROP COLUMN cold`);
  }
}
