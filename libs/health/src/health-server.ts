/**
 * A tiny GET /healthz server for processes that have no HTTP API of their own (scheduler,
 * network, image-store, agents). 200 when every check passes, 503 otherwise.
 */
import { Server, createServer } from 'node:http';

export type HealthCheck = () => Promise<Record<string, 'ok' | string>>;

export async function runChecks(check: HealthCheck): Promise<{ status: 'ok' | 'degraded'; checks: Record<string, string> }> {
  let checks: Record<string, string>;
  try {
    checks = await check();
  } catch (error) {
    checks = { health: (error as Error).message };
  }
  return { status: Object.values(checks).every((v) => v === 'ok') ? 'ok' : 'degraded', checks };
}

export async function startHealthServer(options: { port: number; host?: string; service: string; check: HealthCheck }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/healthz' && req.url !== '/health')) {
      res.writeHead(404).end();
      return;
    }
    void runChecks(options.check).then((result) => {
      res.writeHead(result.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service: options.service, ...result }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  return server;
}

/** Runs `probe` with a time limit, turning failure into a message for the health body. */
export async function probe(what: () => Promise<unknown>, timeoutMs = 2_000): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      what(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}
