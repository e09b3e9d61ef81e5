import { MigrationInterface, QueryRunner } from 'typeorm';

/** Nova's instance action log, and the Idempotency-Key replay table. */
export class ServerActions1732550002000 implements MigrationInterface {
  name = 'ServerActions1732550002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE compute.instance_actions (
      id bigserial PRIMARY KEY, server_id uuid NOT NULL, project_id text NOT NULL, user_id text NOT NULL,
      action text NOT NULL, request_id text NOT NULL, message text,
      start_time timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (server_id, request_id))`);
    await q.query(`CREATE TABLE compute.instance_action_events (
      id bigserial PRIMARY KEY, action_id bigint NOT NULL REFERENCES compute.instance_actions(id) ON DELETE CASCADE,
      event text NOT NULL, host text, result text, details text,
      start_time timestamptz NOT NULL DEFAULT now(), finish_time timestamptz)`);
    await q.query(`CREATE INDEX instance_action_events_action ON compute.instance_action_events (action_id)`);
    await q.query(`CREATE TABLE compute.idempotency_keys (
      scope text NOT NULL, key text NOT NULL, request_hash text NOT NULL,
      status int, body jsonb, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))`);
    await q.query(`CREATE INDEX idempotency_keys_created ON compute.idempotency_keys (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE compute.idempotency_keys`);
    await q.query(`DROP TABLE compute.instance_action_events`);
    await q.query(`DROP TABLE compute.instance_actions`);
  }
}
