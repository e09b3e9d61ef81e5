import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every scheduling decision of a server (which hosts each filter removed and why, the weights of
 * the rest, the host chosen), linked to its instance action by request id; and, on the decision
 * whose spawn failed, the failure: those hosts are excluded when the server is placed again.
 * A failure may be recorded without a stored decision (explanation NULL).
 */
export class PlacementDecisions1732550010000 implements MigrationInterface {
  name = 'PlacementDecisions1732550010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE compute.placement_decisions (
      id bigserial PRIMARY KEY,
      server_id uuid NOT NULL REFERENCES compute.servers (id) ON DELETE CASCADE,
      attempt int NOT NULL CHECK (attempt >= 1),
      request_id text,
      host_id text,
      explanation jsonb,
      failure text,
      failed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX placement_decisions_server ON compute.placement_decisions (server_id, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS compute.placement_decisions`);
  }
}
