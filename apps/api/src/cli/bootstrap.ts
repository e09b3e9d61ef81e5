/**
 * Seeds identity like `keystone-manage bootstrap`: the admin project and user with the admin role,
 * and a demo project and user with the member role. Idempotent; passwords are (re)set from the
 * environment and never printed.
 */
import 'reflect-metadata';
import { env, loadConfigOrExit } from '@nubo/config';
import { createDataSource } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { hashPassword } from '../identity/password-hasher';

const hex = () => randomUUID().replace(/-/g, '');

async function ensureProject(db: DataSource, name: string, description: string): Promise<string> {
  await db.query(
    `INSERT INTO identity.projects (id, name, domain_id, description) VALUES ($1, $2, 'default', $3) ON CONFLICT (domain_id, name) DO NOTHING`,
    [hex(), name, description],
  );
  return (await db.query(`SELECT id FROM identity.projects WHERE domain_id = 'default' AND name = $1`, [name]))[0].id;
}

async function ensureUser(db: DataSource, name: string, password: string, projectId: string, role: string): Promise<void> {
  const hash = await hashPassword(password);
  await db.query(
    `INSERT INTO identity.users (id, name, domain_id, password_hash, default_project_id) VALUES ($1, $2, 'default', $3, $4)
     ON CONFLICT (domain_id, name) DO UPDATE SET password_hash = EXCLUDED.password_hash`,
    [hex(), name, hash, projectId],
  );
  await db.query(
    `INSERT INTO identity.role_assignments (user_id, project_id, role_id)
     SELECT u.id, $2, r.id FROM identity.users u, identity.roles r WHERE u.domain_id = 'default' AND u.name = $1 AND r.name = $3
     ON CONFLICT DO NOTHING`,
    [name, projectId, role],
  );
}

async function main(): Promise<void> {
  const config = loadConfigOrExit(
    {
      NUBO_DATABASE_URL: env.url({ protocols: ['postgres:', 'postgresql:'] }),
      NUBO_BOOTSTRAP_ADMIN_PASSWORD: env.string(),
      NUBO_BOOTSTRAP_DEMO_PASSWORD: env.string(),
    },
    'bootstrap',
  );
  const db = createDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['identity'], applicationName: 'nubo-bootstrap', poolSize: 1 });
  await db.initialize();
  try {
    const admin = await ensureProject(db, 'admin', 'Bootstrap project for the cloud administrator');
    const demo = await ensureProject(db, 'demo', 'Demo project');
    await ensureUser(db, 'admin', config.NUBO_BOOTSTRAP_ADMIN_PASSWORD, admin, 'admin');
    await ensureUser(db, 'demo', config.NUBO_BOOTSTRAP_DEMO_PASSWORD, demo, 'member');
    process.stderr.write('bootstrap: projects admin, demo; users admin (admin), demo (member)\n');
  } finally {
    await db.destroy();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bootstrap: ${error.message}\n`);
  process.exit(1);
});
