import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Host liveness and fencing (issue 9):
 * - `compute.host_leases`: per host the lease its agent renews through the scheduler, with its
 *   epoch (the fencing token every agent command carries). No foreign key: the first renewal may
 *   come before the first heartbeat makes the host row, and epochs must survive a host row's
 *   deletion (they only grow). `fenced_at`: the epoch `fenced_epoch` was fenced; the host gets no
 *   new epoch until an admin enables it (os-services enable clears it).
 * - `compute.host_state_history`: every change of compute.hosts.state, written by a trigger, so no
 *   path can change a state without a record. The writer names the reason with
 *   `set_config('nubo.host_state_reason', <reason>, true)` in the same transaction (or statement);
 *   without one the row says 'unspecified'.
 * - `compute.failover_leadership`: the failover controller's term, bumped by each scheduler that
 *   takes the leader lock (an advisory lock), for logs and for the records its recoveries write.
 */
export class HostLeases1732550021200 implements MigrationInterface {
  name = 'HostLeases1732550021200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE compute.host_leases (
        host_id text PRIMARY KEY,
        epoch bigint NOT NULL CHECK (epoch > 0),
        agent_started_at timestamptz,
        renewed_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        fenced_at timestamptz,
        fenced_epoch bigint
      )`);
    await q.query(`
      CREATE TABLE compute.host_state_history (
        id bigserial PRIMARY KEY,
        host_id text NOT NULL,
        from_state text,
        to_state text NOT NULL,
        reason text NOT NULL,
        epoch bigint,
        at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await q.query(`CREATE INDEX host_state_history_host_idx ON compute.host_state_history (host_id, id)`);
    await q.query(`
      CREATE FUNCTION compute.record_host_state() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO compute.host_state_history (host_id, from_state, to_state, reason, epoch)
        VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state,
                coalesce(nullif(current_setting('nubo.host_state_reason', true), ''), 'unspecified'),
                (SELECT l.epoch FROM compute.host_leases l WHERE l.host_id = NEW.id));
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER hosts_state_history_insert AFTER INSERT ON compute.hosts FOR EACH ROW EXECUTE FUNCTION compute.record_host_state()`);
    await q.query(`
      CREATE TRIGGER hosts_state_history_update AFTER UPDATE OF state ON compute.hosts
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION compute.record_host_state()`);
    await q.query(`
      INSERT INTO compute.host_state_history (host_id, from_state, to_state, reason)
      SELECT id, NULL, state, 'state when the history began' FROM compute.hosts`);
    await q.query(`
      CREATE TABLE compute.failover_leadership (
        id smallint PRIMARY KEY CHECK (id = 1),
        term bigint NOT NULL,
        holder text,
        acquired_at timestamptz
      )`);
    await q.query(`INSERT INTO compute.failover_leadership (id, term) VALUES (1, 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE compute.failover_leadership`);
    await q.query(`DROP TRIGGER hosts_state_history_update ON compute.hosts`);
    await q.query(`DROP TRIGGER hosts_state_history_insert ON compute.hosts`);
    await q.query(`DROP FUNCTION compute.record_host_state()`);
    await q.query(`DROP TABLE compute.host_state_history`);
    await q.query(`DROP TABLE compute.host_leases`);
  }
}
