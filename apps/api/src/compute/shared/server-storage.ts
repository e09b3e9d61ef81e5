/**
 * Where a server's disks live: the flavor it was created with says (`nubo:storage`), read from
 * the server's embedded copy, or from the flavor row for servers made before the copy held
 * extra specs.
 */
import { STORAGE_EXTRA_SPEC } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { DataSource } from 'typeorm';

export type ServerStorage = 'local' | 'shared';

export function storageOf(extraSpecs: Readonly<Record<string, unknown>> | null | undefined): ServerStorage {
  return extraSpecs?.[STORAGE_EXTRA_SPEC] === 'shared' ? 'shared' : 'local';
}

export async function serverStorage(db: DataSource, server: Pick<ServerEntity, 'flavor' | 'flavorId'>): Promise<ServerStorage> {
  if (server.flavor.extraSpecs) return storageOf(server.flavor.extraSpecs);
  const [row]: Array<{ extra_specs: Record<string, string> | null }> = await db.query(`SELECT extra_specs FROM compute.flavors WHERE id = $1`, [server.flavorId]);
  return storageOf(row?.extra_specs);
}
