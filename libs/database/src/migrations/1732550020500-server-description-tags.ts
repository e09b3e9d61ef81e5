import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nova 2.19's server description, 2.26's server tags (a set of strings, kept sorted) and 2.11's
 * forced_down of a compute service (an admin's word that the host is down, whatever it sends).
 */
export class ServerDescriptionTags1732550020500 implements MigrationInterface {
  name = 'ServerDescriptionTags1732550020500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.servers ADD COLUMN description text, ADD COLUMN tags text[] NOT NULL DEFAULT '{}'`);
    await q.query(`CREATE INDEX servers_tags_idx ON compute.servers USING gin (tags)`);
    await q.query(`ALTER TABLE compute.hosts ADD COLUMN forced_down boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE compute.hosts DROP COLUMN forced_down`);
    await q.query(`DROP INDEX compute.servers_tags_idx`);
    await q.query(`ALTER TABLE compute.servers DROP COLUMN tags, DROP COLUMN description`);
  }
}
