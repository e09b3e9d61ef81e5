/**
 * bench:api: latency and throughput of GET /compute/v2.1/servers/detail (100 servers in the
 * project) and POST /identity/v3/auth/tokens under 16 concurrent clients, and in the same run a
 * bare PostgreSQL SELECT of the same rows over a pool of the same size. One JSON line on stdout.
 * Hosts run the fake hypervisor driver: this measures the control plane, not QEMU.
 */
import { OpenStackClient, credentialsFromEnv } from '@nubo/client';
import autocannon from 'autocannon';
import { Pool } from 'pg';

const CONNECTIONS = 16;
const DURATION_S = Number(process.env.NUBO_BENCH_DURATION_S ?? 20);
const SERVERS = 100;
const log = (line: string) => process.stderr.write(`[bench:api] ${line}\n`);

function load(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...opts, connections: CONNECTIONS, duration: DURATION_S }, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function dbBaseline(url: string, projectId: string): Promise<{ p50: number; p99: number; qps: number }> {
  const pool = new Pool({ connectionString: url, max: CONNECTIONS });
  const samples: number[] = [];
  const end = Date.now() + DURATION_S * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      await pool.query(
        `SELECT * FROM compute.servers s WHERE s.deleted_at IS NULL AND s.project_id = $1 ORDER BY s.created_at DESC, s.id DESC LIMIT 1001`,
        [projectId],
      );
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  await pool.end();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), qps: samples.length / DURATION_S };
}

async function main(): Promise<void> {
  const creds = credentialsFromEnv();
  const client = await new OpenStackClient(creds).login();
  await client.call('PUT', `/compute/v2.1/os-quota-sets/${client.projectId}`, 200, {
    quota_set: { instances: -1, cores: -1, ram: -1 },
  });
  log(`creating ${SERVERS} servers`);
  const ids: string[] = [];
  for (let i = 0; i < SERVERS; i++) ids.push(await client.createServer({ name: `bench-${i}`, flavorRef: '42' }));
  for (const id of ids) await client.waitForStatus(id, 'ACTIVE');
  const detail = await client.call('GET', '/compute/v2.1/servers/detail', 200);
  if (detail.servers.length !== SERVERS) throw new Error(`expected ${SERVERS} servers, listed ${detail.servers.length}`);

  log(`GET /servers/detail, ${CONNECTIONS} connections, ${DURATION_S} s`);
  const list = await load({ url: `${client.baseUrl}/compute/v2.1/servers/detail`, headers: { 'x-auth-token': client.token! } });
  if (list.non2xx > 0 || list.errors > 0) throw new Error(`servers/detail: ${list.non2xx} non-2xx, ${list.errors} errors`);

  log(`POST /auth/tokens, ${CONNECTIONS} connections, ${DURATION_S} s`);
  const tokens = await load({
    url: `${creds.authUrl}/auth/tokens`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: creds.username, domain: { name: 'Default' }, password: creds.password } } },
        scope: { project: { name: creds.projectName, domain: { name: 'Default' } } },
      },
    }),
  });
  if (tokens.non2xx > 0 || tokens.errors > 0) throw new Error(`auth/tokens: ${tokens.non2xx} non-2xx, ${tokens.errors} errors`);

  log(`bare SELECT of the same rows, ${CONNECTIONS} connections, ${DURATION_S} s`);
  const db = await dbBaseline(process.env.NUBO_DATABASE_URL!, client.projectId!);

  log('deleting the servers');
  for (const id of ids) await client.request('DELETE', `/compute/v2.1/servers/${id}`);

  const round = (n: number) => Math.round(n * 100) / 100;
  process.stdout.write(
    `${JSON.stringify({
      name: 'api',
      servers: SERVERS,
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      servers_detail_p50_ms: round(list.latency.p50),
      servers_detail_p99_ms: round(list.latency.p99),
      servers_detail_rps: round(list.requests.average),
      token_rps: round(tokens.requests.average),
      token_p50_ms: round(tokens.latency.p50),
      db_baseline_p50_ms: round(db.p50),
      db_baseline_p99_ms: round(db.p99),
      db_baseline_qps: round(db.qps),
      overhead_ratio: round(list.latency.p50 / db.p50),
    })}\n`,
  );
}

main().catch((error: Error) => {
  process.stderr.write(`[bench:api] failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
