/** Applies pending migrations. Usage: NUBO_DATABASE_URL=... node dist/libs/database/src/cli/migrate.js */
import 'reflect-metadata';
import { env, loadConfigOrExit } from '@nubo/config';
import { createDataSource } from '../data-source';
import { migrateLocked } from '../migrate-locked';

async function main(): Promise<void> {
  const config = loadConfigOrExit({ NUBO_DATABASE_URL: env.url({ protocols: ['postgres:', 'postgresql:'] }) }, 'migrate');
  const ds = createDataSource({
    url: config.NUBO_DATABASE_URL,
    schemas: ['identity', 'compute', 'network', 'image'],
    applicationName: 'nubo-migrate',
    poolSize: 2, // one session holds the migration lock, one runs the migrations
  });
  await ds.initialize();
  try {
    // One migrator at a time, even if two deploy scripts race.
    const applied = await migrateLocked(ds);
    process.stderr.write(`migrate: ${applied} migration(s) applied\n`);
  } finally {
    await ds.destroy();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`migrate: ${error.message}\n`);
  process.exit(1);
});
