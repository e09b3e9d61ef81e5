import { DataSource } from 'typeorm';

/**
 * Applies pending migrations, one migrator at a time across processes: the advisory lock is held
 * on a session of its own for the whole run (a pooled `query()` could take it on one connection and
 * try to release it on another). Needs a pool of at least two connections. Returns how many ran.
 */
export async function migrateLocked(ds: DataSource): Promise<number> {
  const lock = ds.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', ['nubo-migrate']);
    return (await ds.runMigrations({ transaction: 'each' })).length;
  } finally {
    await lock.query('SELECT pg_advisory_unlock(hashtext($1))', ['nubo-migrate']).catch(() => undefined);
    await lock.release();
  }
}
