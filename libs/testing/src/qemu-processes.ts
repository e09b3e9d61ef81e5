import { readFileSync, readdirSync } from 'node:fs';

/** Pids of every process whose command line names `needle` (a server id): tests assert none survive. */
export function pidsNaming(needle: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}
