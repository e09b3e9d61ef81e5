import { MigrationInterface, QueryRunner } from 'typeorm';

/** The key pair a server was created with (Nova shows key_name). */
export class ServerKeyName1732550004000 implements MigrationInterface {
  name = 'ServerKeyName1732550004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.servers ADD COLUMN key_name text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.servers DROP COLUMN key_name`);
  }
}
