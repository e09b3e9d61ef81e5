import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Servers on tenant networks (issue 7): the `networks` a create asked for (contracts'
 * RequestedNetwork[]; null: none, the servers of before) and the NICs their bound ports gave
 * (NicSpec[]), so that every later spec (start, resume, rebuild, resize) boots the same NICs.
 */
export class ServerNetworks1732550015000 implements MigrationInterface {
  name = 'ServerNetworks1732550015000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.servers ADD COLUMN requested_networks jsonb, ADD COLUMN nics jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.servers DROP COLUMN nics, DROP COLUMN requested_networks`);
  }
}
