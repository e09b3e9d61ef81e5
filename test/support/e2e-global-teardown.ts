/** Stops the e2e cloud and removes its namespaces, processes and files (even after failures). */
import { execFileSync } from 'node:child_process';
import { E2E, cloudScript } from './e2e-env';

export default async function teardown(): Promise<void> {
  if (process.env.NUBO_KEEP_CLOUD) return;
  execFileSync('bash', [cloudScript, 'down', '--purge'], { env: { ...process.env, ...E2E }, stdio: 'inherit' });
}
