/**
 * A small OpenStack API client (Keystone password auth, Nova, Nubo) for the demo, the e2e tests
 * and the benchmarks. It speaks HTTP only: it knows nothing of Nubo's insides.
 */
import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';

export interface Credentials {
  authUrl: string; // e.g. http://127.0.0.1:8080/identity/v3
  username: string;
  password: string;
  projectName: string;
  userDomainName?: string;
  projectDomainName?: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: unknown, method: string, path: string) {
    super(`${method} ${path} -> ${status}: ${JSON.stringify(body)}`);
  }
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class OpenStackClient {
  token?: string;
  projectId?: string;
  private catalog = new Map<string, string>();

  constructor(private readonly credentials: Credentials) {}

  /** The API's base URL (scheme://host:port), from the auth URL. */
  get baseUrl(): string {
    return this.credentials.authUrl.replace(/\/identity(\/v3)?\/?$/, '');
  }

  async login(): Promise<this> {
    const c = this.credentials;
    const res = await fetch(`${c.authUrl.replace(/\/$/, '')}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: c.username, domain: { name: c.userDomainName ?? 'Default' }, password: c.password } },
          },
          scope: { project: { name: c.projectName, domain: { name: c.projectDomainName ?? 'Default' } } },
        },
      }),
    });
    const body = (await res.json()) as any;
    if (res.status !== 201) throw new ApiError(res.status, body, 'POST', '/auth/tokens');
    this.token = res.headers.get('x-subject-token')!;
    this.projectId = body.token.project.id;
    for (const service of body.token.catalog) {
      const endpoint = service.endpoints.find((e: any) => e.interface === 'public');
      if (endpoint) this.catalog.set(service.type, endpoint.url);
    }
    return this;
  }

  /** Raw request against the API base; never throws on status. */
  async request<T = any>(method: string, path: string, o: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (this.token && !('x-auth-token' in headers)) headers['x-auth-token'] = this.token;
    if (o.body !== undefined || o.rawBody !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body)),
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, headers: res.headers };
  }

  /** Request that must answer `expect`; throws ApiError otherwise. */
  async call<T = any>(method: string, path: string, expect: number, body?: unknown): Promise<T> {
    const reply = await this.request<T>(method, path, { body });
    if (reply.status !== expect) throw new ApiError(reply.status, reply.body, method, path);
    return reply.body;
  }

  /** Glance's PUT /image/v2/images/{id}/file with the file streamed (Content-Length set); ApiError unless 204. */
  async uploadImageFile(imageId: string, file: string): Promise<void> {
    const path = `/image/v2/images/${imageId}/file`;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${this.baseUrl}${path}`, {
        method: 'PUT',
        headers: { 'x-auth-token': this.token!, 'content-type': 'application/octet-stream', 'content-length': String(statSync(file).size) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      createReadStream(file).pipe(req);
    });
    if (status !== 204) throw new ApiError(status, undefined, 'PUT', path);
  }

  async createServer(server: { name: string; flavorRef: string; imageRef?: string }): Promise<string> {
    const body = await this.call('POST', '/compute/v2.1/servers', 202, { server });
    return body.server.id;
  }

  async getServer(id: string): Promise<any> {
    return (await this.call('GET', `/compute/v2.1/servers/${id}`, 200)).server;
  }

  /** Polls until the server has `status` (or ERROR, which throws). */
  async waitForStatus(id: string, status: string, timeoutMs = 120_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const server = await this.getServer(id);
      if (server.status === status) return server;
      if (server.status === 'ERROR' && status !== 'ERROR') throw new Error(`server ${id} went to ERROR: ${JSON.stringify(server.fault)}`);
      if (Date.now() > deadline) throw new Error(`server ${id} still ${server.status} after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Polls until the server answers 404 (deleted). */
  async waitForGone(id: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.request('GET', `/compute/v2.1/servers/${id}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error(`server ${id} not gone after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async hosts(): Promise<any[]> {
    return (await this.call('GET', '/nubo/v1/hosts', 200)).hosts;
  }

  async liveStatus(id: string): Promise<any> {
    return (await this.call('GET', `/nubo/v1/servers/${id}/status`, 200)).status;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Credentials from an openrc-style environment (OS_AUTH_URL, OS_USERNAME, ...). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials {
  const need = (k: string) => {
    const v = env[k];
    if (!v) throw new Error(`${k} is not set (source the openrc file)`);
    return v;
  };
  return {
    authUrl: need('OS_AUTH_URL'),
    username: need('OS_USERNAME'),
    password: need('OS_PASSWORD'),
    projectName: need('OS_PROJECT_NAME'),
    userDomainName: env.OS_USER_DOMAIN_NAME ?? 'Default',
    projectDomainName: env.OS_PROJECT_DOMAIN_NAME ?? 'Default',
  };
}
