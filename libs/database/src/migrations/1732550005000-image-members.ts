import { MigrationInterface, QueryRunner } from 'typeorm';

/** Glance image members: the projects a `shared` image is offered to, with their answer. */
export class ImageMembers1732550005000 implements MigrationInterface {
  name = 'ImageMembers1732550005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE image.image_members (
      image_id uuid NOT NULL REFERENCES image.images (id) ON DELETE CASCADE,
      member text NOT NULL CHECK (length(member) BETWEEN 1 AND 255),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (image_id, member))`);
    // Lists ask "which images are shared with project P (in status S)".
    await q.query(`CREATE INDEX image_members_member ON image.image_members (member, status)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS image.image_members`);
  }
}
