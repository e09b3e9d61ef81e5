import { MigrationInterface, QueryRunner } from 'typeorm';

/** Each host's KSM state and counters, as its last heartbeat read them (null: an agent that sends none). */
export class HostKsm1732550006000 implements MigrationInterface {
  name = 'HostKsm1732550006000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.hosts ADD COLUMN ksm jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.hosts DROP COLUMN ksm`);
  }
}
