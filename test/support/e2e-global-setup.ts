/** Boots the e2e all-in-one cloud once for every e2e spec (deploy/cloud.sh up --no-demo). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { E2E, cloudScript } from './e2e-env';

export default async function setup(): Promise<void> {
  const selected = process.argv.join(' ');
  if (/--selectProjects\s+(unit|integration)(\s|$)/.test(selected)) return;
  // A run killed before its teardown leaves its cloud (processes, namespaces, database): the e2e
  // cloud always starts from nothing.
  execFileSync('bash', [cloudScript, 'down', '--purge'], { env: { ...process.env, ...E2E }, stdio: 'inherit' });
  try {
    execFileSync('bash', [cloudScript, 'up', '--no-demo'], { env: { ...process.env, ...E2E }, stdio: 'inherit' });
  } catch (error) {
    // Jest runs no teardown after a failed setup: services left running would retry their
    // connections to the stopped infrastructure (and may self-connect onto its ports).
    execFileSync('bash', [cloudScript, 'down', '--purge'], { env: { ...process.env, ...E2E }, stdio: 'inherit' });
    throw error;
  }
  // Specs kill and freeze agents on purpose: automatic failover would fence their hosts. The
  // failover specs turn it on for themselves (and off again).
  // (Straight to PostgreSQL: a global setup runs without the path aliases, so no @nubo/client.)
  const env = readFileSync(join(E2E.NUBO_STATE_DIR, 'cloud.env'), 'utf8');
  const url = /^NUBO_DATABASE_URL=(.*)$/m.exec(env)?.[1]?.replace(/^['"]|['"]$/g, '');
  if (!url) throw new Error('cloud.env has no NUBO_DATABASE_URL');
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    await db.query(`UPDATE compute.failover_settings SET enabled = false, updated_at = now() WHERE id = 1`);
  } finally {
    await db.end();
  }
}
