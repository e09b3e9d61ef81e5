/** The OS_* variables of an openrc file, for running the stock `openstack` CLI with nothing else. */
import { readFileSync } from 'node:fs';

export function openrcEnv(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^export\s+(OS_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}
