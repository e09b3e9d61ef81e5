/**
 * A database of its own for an integration spec that needs to be alone with its hosts (races for
 * "the last free slot" cannot share hosts with other specs running against the same database).
 * Created from the shared test database's URL, migrated, dropped at the end.
 */
import { SchemaOwner, createDataSource, migrateLocked } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

export interface PrivateDatabase {
  url: string;
  drop(): Promise<void>;
}

/** `schemas`: the data source's schemas while it migrates (the service's own). */
export async function createPrivateDatabase(sharedUrl: string, prefix: string, schemas: SchemaOwner[] = ['compute']): Promise<PrivateDatabase> {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = async (sql: string) => {
    const client = new Client({ connectionString: sharedUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(sharedUrl);
  url.pathname = `/${name}`;
  const ds = createDataSource({ url: url.toString(), schemas, applicationName: `${prefix}-migrate`, poolSize: 2 });
  await ds.initialize();
  try {
    await migrateLocked(ds);
  } finally {
    await ds.destroy();
  }
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
