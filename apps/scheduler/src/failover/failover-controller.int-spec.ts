/**
 * Leader election of the failover controller against real PostgreSQL: two controllers in one
 * process, each with its own connections (as two schedulers). Exactly one is active; when the
 * active one's connection is killed, or it stops hearing from PostgreSQL, the other takes over
 * within about two seconds; no tick ever runs on both at once, and a deposed leader's session
 * writes nothing.
 */
import { Logger } from '@nestjs/common';
import { createDataSource } from '@nubo/database';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { FailoverController, FailoverTask, FailoverTickContext } from './failover-controller';
import { LeaderSession } from './leader-election';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, fn: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!fn()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - start;
}

run(FailoverController.name, () => {
  let database: PrivateDatabase;
  let db: DataSource;
  /** Ticks in flight across both controllers, and the most ever seen at once. */
  let inFlight = 0;
  let maxInFlight = 0;
  const ticks: Array<{ who: string; term: number; start: number; end: number }> = [];
  const sessions = new Map<string, LeaderSession>();
  /** Makes a controller's connection stop answering (a leader cut off from PostgreSQL). */
  const frozen = new Set<string>();

  const task = (who: string): FailoverTask => ({
    name: `record-${who}`,
    async run({ session }: FailoverTickContext) {
      sessions.set(who, session);
      const start = Date.now();
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        // The work goes through the leader's own connection.
        await session.query(`SELECT pg_sleep(0.03)`);
      } finally {
        inFlight--;
        ticks.push({ who, term: session.term, start, end: Date.now() });
      }
    },
  });

  const controller = (who: string, url: string) =>
    new FailoverController({
      tickMs: 50,
      tasks: [task(who)],
      election: {
        lockName: 'failover-it',
        holder: who,
        retryMs: 200,
        timeoutMs: 1_500,
        connect: async () => {
          const client = new Client({ connectionString: url, application_name: `failover-it-${who}` });
          await client.connect();
          const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
          // A frozen controller's statements get no answer (they fail only when the connection ends, as pg's do).
          const ended = new Promise<never>((_, reject) => client.once('end', () => reject(new Error('Connection terminated'))));
          ended.catch(() => undefined);
          (client as unknown as { query: typeof query }).query = (...args: unknown[]) => (frozen.has(who) ? ended : query(...args));
          return client;
        },
      },
    });

  let a: FailoverController;
  let b: FailoverController;
  const byName = () => ({ a, b }) as Record<string, FailoverController>;
  const activeNames = () => Object.entries(byName()).filter(([, c]) => c.active).map(([n]) => n);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_failover');
    db = createDataSource({ url: database.url, schemas: ['compute'], applicationName: 'failover-it', poolSize: 2 });
    await db.initialize();
    a = controller('a', database.url);
    b = controller('b', database.url);
    a.onApplicationBootstrap();
    b.onApplicationBootstrap();
  }, 60_000);

  afterAll(async () => {
    frozen.clear();
    await a?.onApplicationShutdown();
    await b?.onApplicationShutdown();
    await db?.destroy();
    await database?.drop();
  });

  it('makes exactly one of the two active, which ticks on its own', async () => {
    await until('a leader', () => activeNames().length > 0, 5_000);
    for (let i = 0; i < 30; i++) {
      expect(activeNames()).toHaveLength(1);
      await sleep(20);
    }
    const leader = activeNames()[0];
    expect(new Set(ticks.map((t) => t.who))).toEqual(new Set([leader]));
    const [row] = await db.query(`SELECT term::int AS term, holder FROM compute.failover_leadership`);
    expect(row).toEqual({ term: byName()[leader].term, holder: leader });
  });

  it('hands the lead to the other within 2 s when the leader connection dies; the old session writes nothing', async () => {
    const old = activeNames()[0];
    const other = old === 'a' ? 'b' : 'a';
    const oldTerm = byName()[old].term!;
    const oldSession = sessions.get(old)!;
    await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`failover-it-${old}`]);
    const killedAt = Date.now();
    const took = await until(`${other} to lead`, () => byName()[other].active, 2_000);
    console.log(`failover leader: connection killed -> standby active in ${took} ms`);
    expect(byName()[old].active).toBe(false);
    expect(byName()[other].term).toBeGreaterThan(oldTerm);
    await expect(oldSession.query(`UPDATE compute.failover_leadership SET holder = 'ghost'`)).rejects.toThrow(/not the leader/);
    await sleep(300);
    expect(activeNames()).toEqual([other]);
    // Nothing of the old leader started after the new one became active.
    const firstNew = Math.min(...ticks.filter((t) => t.who === other).map((t) => t.start));
    expect(ticks.filter((t) => t.who === old && t.start >= firstNew)).toEqual([]);
    expect(firstNew).toBeGreaterThanOrEqual(killedAt);
  });

  it('hands the lead over when the leader stops hearing from PostgreSQL (frozen, cut off): it steps down by itself', async () => {
    const old = activeNames()[0];
    const other = old === 'a' ? 'b' : 'a';
    frozen.add(old);
    const took = await until(`${other} to lead`, () => byName()[other].active, 3_000);
    console.log(`failover leader: leader cut off -> standby active in ${took} ms (timeout 1500 ms)`);
    expect(byName()[old].active).toBe(false);
    frozen.delete(old);
    await sleep(500);
    expect(activeNames()).toEqual([other]);
  });

  it('takes the lead from a frozen holder: PostgreSQL ends its silent session after the timeout', async () => {
    // A holder that took the lock the way the election does and then went silent (SIGSTOP).
    const silent = new Client({ connectionString: database.url, application_name: 'failover-it-silent' });
    await silent.connect();
    silent.on('error', () => undefined);
    await silent.query(`SELECT set_config('idle_session_timeout', '1000', false)`);
    const [{ locked }] = (await silent.query(`SELECT pg_try_advisory_lock(hashtext('nubo-failover'), hashtext('failover-it-2')) AS locked`)).rows;
    expect(locked).toBe(true);
    const c = new FailoverController({
      tickMs: 50,
      tasks: [],
      election: { lockName: 'failover-it-2', holder: 'c', retryMs: 200, timeoutMs: 1_500, connect: async () => {
        const client = new Client({ connectionString: database.url, application_name: 'failover-it-c' });
        await client.connect();
        return client;
      } },
    });
    c.onApplicationBootstrap();
    try {
      await sleep(500);
      expect(c.active).toBe(false);
      const took = await until('c to lead', () => c.active, 2_500);
      console.log(`failover leader: silent holder -> standby active ${took + 500} ms after it went silent (idle_session_timeout 1000 ms)`);
    } finally {
      await c.onApplicationShutdown();
      await silent.end().catch(() => undefined);
    }
  });

  it('never ran a tick on both at once', () => {
    expect(maxInFlight).toBe(1);
    const sorted = [...ticks].sort((x, y) => x.start - y.start);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].who !== sorted[i - 1].who) expect(sorted[i].start).toBeGreaterThanOrEqual(sorted[i - 1].end);
    }
    expect(new Set(ticks.map((t) => t.term)).size).toBeGreaterThanOrEqual(3);
  });
});
