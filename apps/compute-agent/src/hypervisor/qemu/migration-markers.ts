/**
 * Files that say a live migration holds an instance directory, so that a restarted agent (and
 * QemuInstances.find) knows: `incoming-migration.json` on the destination (the QEMU there is not
 * the server's yet: never adopted nor reported), `outgoing-migration.json` on the source (which
 * migration cleanupSource may end).
 */
import { MigrationParameters } from '@nubo/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const INCOMING_MARKER = 'incoming-migration.json';
export const OUTGOING_MARKER = 'outgoing-migration.json';

export interface MigrationMarker {
  migrationId: string;
  /** The source's parameters (outgoing only): a restarted agent takes the migration over with them. */
  parameters?: MigrationParameters;
  /**
   * Outgoing only: `migrate` is about to be (or was) sent. Until then QEMU's query-migrate speaks
   * of an earlier migration, never of this one.
   */
  migrateSent?: boolean;
}

export function isIncomingMigration(instanceDir: string): boolean {
  return existsSync(join(instanceDir, INCOMING_MARKER));
}

export function readMarker(instanceDir: string, name: string): MigrationMarker | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(instanceDir, name), 'utf8')) as MigrationMarker;
    return typeof parsed.migrationId === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export async function writeMarker(instanceDir: string, name: string, marker: MigrationMarker): Promise<void> {
  const path = join(instanceDir, name);
  await writeFile(`${path}.tmp`, `${JSON.stringify(marker)}\n`);
  await rename(`${path}.tmp`, path);
}

export async function removeMarker(instanceDir: string, name: string): Promise<void> {
  await rm(join(instanceDir, name), { force: true });
}
