import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { startAgentHealthServer } from './agent-health.server';

describe('startAgentHealthServer', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  it('answers GET /healthz on loopback with the host id and instance count', async () => {
    server = await startAgentHealthServer({ port: 0, hostId: 'h1', instances: async () => 3 });
    const { address, port } = server.address() as AddressInfo;
    expect(address).toBe('127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', hostId: 'h1', instances: 3 });
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });

  it('reports the image cache when given', async () => {
    server = await startAgentHealthServer({ port: 0, hostId: 'h1', instances: async () => 2, imageCache: async () => ({ images: 1, downloads: 4 }) });
    const { port } = server.address() as AddressInfo;
    const body = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
    expect(body).toEqual({ status: 'ok', hostId: 'h1', instances: 2, imageCache: { images: 1, downloads: 4 } });
  });
});
