import { MigrationInterface, QueryRunner } from 'typeorm';

/** One schema per owner: identity and compute (api, scheduler), network, image. */
export class Initial1732550000000 implements MigrationInterface {
  name = 'Initial1732550000000';

  async up(q: QueryRunner): Promise<void> {
    for (const schema of ['identity', 'compute', 'network', 'image']) {
      await q.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    }

    await q.query(`CREATE TABLE identity.domains (
      id text PRIMARY KEY, name text NOT NULL UNIQUE, description text NOT NULL DEFAULT '',
      enabled boolean NOT NULL DEFAULT true, created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE identity.projects (
      id text PRIMARY KEY, name text NOT NULL, domain_id text NOT NULL REFERENCES identity.domains(id),
      description text NOT NULL DEFAULT '', enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (domain_id, name))`);
    await q.query(`CREATE TABLE identity.users (
      id text PRIMARY KEY, name text NOT NULL, domain_id text NOT NULL REFERENCES identity.domains(id),
      password_hash text NOT NULL, default_project_id text REFERENCES identity.projects(id) ON DELETE SET NULL,
      enabled boolean NOT NULL DEFAULT true, created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (domain_id, name))`);
    await q.query(`CREATE TABLE identity.roles (id text PRIMARY KEY, name text NOT NULL UNIQUE)`);
    await q.query(`CREATE TABLE identity.role_assignments (
      user_id text NOT NULL REFERENCES identity.users(id) ON DELETE CASCADE,
      project_id text NOT NULL REFERENCES identity.projects(id) ON DELETE CASCADE,
      role_id text NOT NULL REFERENCES identity.roles(id) ON DELETE CASCADE,
      PRIMARY KEY (user_id, project_id, role_id))`);
    await q.query(`CREATE TABLE identity.tokens (
      token_hash text PRIMARY KEY, audit_id text NOT NULL,
      user_id text NOT NULL REFERENCES identity.users(id) ON DELETE CASCADE,
      project_id text NOT NULL REFERENCES identity.projects(id) ON DELETE CASCADE,
      issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, revoked_at timestamptz)`);
    await q.query(`CREATE INDEX tokens_expires_at ON identity.tokens (expires_at)`);
    await q.query(`INSERT INTO identity.domains (id, name, description) VALUES ('default', 'Default', 'The default domain')`);
    await q.query(`INSERT INTO identity.roles (id, name) VALUES
      (md5('admin'), 'admin'), (md5('member'), 'member'), (md5('reader'), 'reader')`);

    await q.query(`CREATE TABLE compute.flavors (
      id text PRIMARY KEY, name text NOT NULL UNIQUE, vcpus int NOT NULL CHECK (vcpus > 0),
      ram_mb int NOT NULL CHECK (ram_mb > 0), disk_gb int NOT NULL CHECK (disk_gb >= 0),
      ephemeral_gb int NOT NULL DEFAULT 0, swap_mb int NOT NULL DEFAULT 0, is_public boolean NOT NULL DEFAULT true,
      description text NOT NULL DEFAULT '', extra_specs jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now())`);
    // Nova's classic flavors, plus devstack's m1.nano for firmware-only and tiny test guests.
    await q.query(`INSERT INTO compute.flavors (id, name, vcpus, ram_mb, disk_gb) VALUES
      ('42', 'm1.nano', 1, 128, 1), ('1', 'm1.tiny', 1, 512, 1), ('2', 'm1.small', 1, 2048, 20),
      ('3', 'm1.medium', 2, 4096, 40), ('4', 'm1.large', 4, 8192, 80), ('5', 'm1.xlarge', 8, 16384, 160)`);

    await q.query(`CREATE TABLE compute.hosts (
      id text PRIMARY KEY, state text NOT NULL, accelerator text NOT NULL,
      vcpus int NOT NULL, ram_mb int NOT NULL, disk_gb int NOT NULL,
      cpu_allocation_ratio real NOT NULL DEFAULT 4, ram_allocation_ratio real NOT NULL DEFAULT 1,
      disk_allocation_ratio real NOT NULL DEFAULT 1, generation bigint NOT NULL DEFAULT 0,
      underlay_ip text, last_heartbeat_at timestamptz NOT NULL, agent_started_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE compute.servers (
      id uuid PRIMARY KEY, project_id text NOT NULL, user_id text NOT NULL, name text NOT NULL,
      flavor_id text NOT NULL, flavor jsonb NOT NULL, image_ref text,
      vm_state text NOT NULL, task_state text, power_state text NOT NULL,
      host_id text REFERENCES compute.hosts(id), fault jsonb, metadata jsonb NOT NULL DEFAULT '{}',
      request_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(), launched_at timestamptz, deleted_at timestamptz)`);
    await q.query(`CREATE INDEX servers_project ON compute.servers (project_id, created_at) WHERE deleted_at IS NULL`);
    await q.query(`CREATE INDEX servers_host ON compute.servers (host_id) WHERE deleted_at IS NULL`);
    await q.query(`CREATE TABLE compute.allocations (
      consumer_id uuid NOT NULL, host_id text NOT NULL REFERENCES compute.hosts(id),
      vcpus int NOT NULL, ram_mb int NOT NULL, disk_gb int NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer_id, host_id))`);
    await q.query(`CREATE INDEX allocations_host ON compute.allocations (host_id)`);

    await q.query(`CREATE TABLE network.networks (
      id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL, shared boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE image.images (
      id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL, status text NOT NULL,
      visibility text NOT NULL DEFAULT 'private', created_at timestamptz NOT NULL DEFAULT now())`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const schema of ['image', 'network', 'compute', 'identity']) {
      await q.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  }
}
