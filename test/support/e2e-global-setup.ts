/** Boots the e2e all-in-one cloud once for every e2e spec (deploy/cloud.sh up --no-demo). */
import { execFileSync } from 'node:child_process';
import { E2E, cloudScript } from './e2e-env';

export default async function setup(): Promise<void> {
  const selected = process.argv.join(' ');
  if (/--selectProjects\s+(unit|integration)(\s|$)/.test(selected)) return;
  execFileSync('bash', [cloudScript, 'up', '--no-demo'], { env: { ...process.env, ...E2E }, stdio: 'inherit' });
}
