/**
 * GET /healthz on loopback for process supervisors and the cloud scripts. The agent has no HTTP
 * API otherwise; this answers from memory and never touches QEMU.
 */
import { Server, createServer } from 'node:http';

export interface AgentHealthOptions {
  port: number;
  hostId: string;
  /** Number of instances the driver tracks. */
  instances: () => Promise<number>;
  /** Base images on the host and downloads since the agent started. */
  imageCache?: () => Promise<{ images: number; downloads: number }>;
  host?: string;
}

export async function startAgentHealthServer(options: AgentHealthOptions): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    Promise.all([options.instances(), options.imageCache?.()]).then(
      ([instances, imageCache]) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok', hostId: options.hostId, instances, ...(imageCache ? { imageCache } : {}) }));
      },
      (error: Error) => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'degraded', hostId: options.hostId, error: error.message }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return server;
}
