import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ports bound to servers by the compute side (network.binding.*): which ports a binding created
 * (they go with the server; a port the user passed is only unbound) and their order in the
 * server's request (a retried bind finds them again); and the agents' underlay addresses as
 * heartbeats report them (VXLAN peers), kept by the network service itself.
 */
export class PortBinding1732550014000 implements MigrationInterface {
  name = 'PortBinding1732550014000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE network.ports ADD COLUMN created_by_binding boolean NOT NULL DEFAULT false, ADD COLUMN binding_slot int`);
    await q.query(`CREATE UNIQUE INDEX ports_binding_slot ON network.ports (device_id, binding_slot) WHERE binding_slot IS NOT NULL`);
    await q.query(`CREATE INDEX ports_device ON network.ports (device_id) WHERE device_id <> ''`);
    await q.query(`CREATE INDEX ports_host ON network.ports (binding_host_id) WHERE binding_host_id <> ''`);
    await q.query(`CREATE TABLE network.agent_hosts (
      host_id text PRIMARY KEY, underlay_ip inet, agent_started_at text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS network.agent_hosts`);
    await q.query(`DROP INDEX IF EXISTS network.ports_host`);
    await q.query(`DROP INDEX IF EXISTS network.ports_device`);
    await q.query(`DROP INDEX IF EXISTS network.ports_binding_slot`);
    await q.query(`ALTER TABLE network.ports DROP COLUMN binding_slot, DROP COLUMN created_by_binding`);
  }
}
