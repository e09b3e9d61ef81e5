import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The cloud's automatic failover switch and its last alert (one row): admins turn recovery off
 * for maintenance windows (PUT /nubo/v1/failover, as vSphere HA or Proxmox's HA manager are
 * switched off), the failover controller reads it every tick and writes why it held back (a storm).
 */
export class FailoverSettings1732550021400 implements MigrationInterface {
  name = 'FailoverSettings1732550021400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE compute.failover_settings (
        id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        enabled boolean NOT NULL DEFAULT true,
        updated_at timestamptz NOT NULL DEFAULT now(),
        alert text,
        alert_at timestamptz
      )`);
    await q.query(`INSERT INTO compute.failover_settings (id, enabled) VALUES (1, true)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE compute.failover_settings`);
  }
}
