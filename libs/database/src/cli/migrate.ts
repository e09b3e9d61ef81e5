/** Applies pending migrations. Usage: NUBO_DATABASE_URL=... node dist/libs/database/src/cli/migrate.js */
import 'reflect-metadata';
import { env, loadConfigOrExit } from '@nubo/config';
import { createDataSource } from '../data-source';

async function main(): Promise<void> {
  const config = loadConfigOrExit({ NUBO_DATABASE_URL: env.url({ protocols: ['postgres:', 'postgresql:'] }) }, 'migrate');
  const ds = createDataSource({
    url: config.NUBO_DATABASE_URL,
    schemas: ['identity', 'compute', 'network', 'image'],
    applicationName: 'nubo-migrate',
    poolSize: 1,
  });
  await ds.initialize();
  try {
    // One migrator at a time, even if two deploy scripts race.
    await ds.query('SELECT pg_advisory_lock(hashtext($1))', ['nubo-migrate']);
    const applied = await ds.runMigrations({ transaction: 'each' });
    process.stderr.write(`migrate: ${applied.length} migration(s) applied\n`);
  } finally {
    await ds.destroy();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`migrate: ${error.message}\n`);
  process.exit(1);
});
