import { MigrationInterface, QueryRunner } from 'typeorm';

/** Glance's image fields, soft delete, and the content-addressed file each active image points at. */
export class Images1732550003000 implements MigrationInterface {
  name = 'Images1732550003000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE image.images
      ADD COLUMN disk_format text,
      ADD COLUMN container_format text,
      ADD COLUMN size_bytes bigint,
      ADD COLUMN virtual_size bigint,
      ADD COLUMN checksum text,
      ADD COLUMN os_hash_algo text,
      ADD COLUMN os_hash_value text,
      ADD COLUMN min_disk int NOT NULL DEFAULT 0 CHECK (min_disk >= 0),
      ADD COLUMN min_ram int NOT NULL DEFAULT 0 CHECK (min_ram >= 0),
      ADD COLUMN protected boolean NOT NULL DEFAULT false,
      ADD COLUMN os_hidden boolean NOT NULL DEFAULT false,
      ADD COLUMN tags jsonb NOT NULL DEFAULT '[]',
      ADD COLUMN properties jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN deleted_at timestamptz,
      ADD COLUMN file_key text`);
    await q.query(`CREATE INDEX images_project ON image.images (project_id, created_at) WHERE deleted_at IS NULL`);
    // Files are shared by identical uploads: a file goes when no live row points at it.
    await q.query(`CREATE INDEX images_file_key ON image.images (file_key) WHERE deleted_at IS NULL AND file_key IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS image.images_file_key`);
    await q.query(`DROP INDEX IF EXISTS image.images_project`);
    await q.query(`ALTER TABLE image.images
      DROP COLUMN file_key, DROP COLUMN deleted_at, DROP COLUMN updated_at, DROP COLUMN properties,
      DROP COLUMN tags, DROP COLUMN os_hidden, DROP COLUMN protected, DROP COLUMN min_ram, DROP COLUMN min_disk,
      DROP COLUMN os_hash_value, DROP COLUMN os_hash_algo, DROP COLUMN checksum, DROP COLUMN virtual_size,
      DROP COLUMN size_bytes, DROP COLUMN container_format, DROP COLUMN disk_format`);
  }
}
