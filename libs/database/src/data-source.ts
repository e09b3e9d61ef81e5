import { DataSource } from 'typeorm';
import { migrations } from './migrations';
import { computeEntities } from './compute/compute.entities';
import { identityEntities } from './identity/identity.entities';
import { imageEntities } from './image/image.entities';
import { networkEntities } from './network/network.entities';

export type SchemaOwner = 'identity' | 'compute' | 'network' | 'image';

const entitiesBySchema: Record<SchemaOwner, Function[]> = {
  identity: identityEntities,
  compute: computeEntities,
  network: networkEntities,
  image: imageEntities,
};

export interface DataSourceOptions {
  url: string;
  /** The schemas this process may touch; it gets only their entities. */
  schemas: SchemaOwner[];
  applicationName: string;
  poolSize?: number;
}

export const MIGRATIONS_TABLE = 'nubo_migrations';

export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: options.schemas.flatMap((s) => entitiesBySchema[s]),
    migrations,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: { max: options.poolSize ?? 10, application_name: options.applicationName },
  });
}

/** Opens the data source and refuses to run against a database whose migrations are not applied. */
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  const ds = createDataSource(options);
  await ds.initialize();
  if (await ds.showMigrations()) {
    await ds.destroy();
    throw new Error('database has pending migrations: run `npm run db:migrate` first');
  }
  return ds;
}
