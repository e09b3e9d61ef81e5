/**
 * Server create with `networks` against real PostgreSQL and a scripted network service: the
 * request is checked with Neutron's show (caller's project and role) and stored with the server;
 * a refused network or port leaves nothing behind; views get their addresses in one call.
 */
import { ConflictError, NotFoundError, ValidationError } from '@nubo/contracts';
import { createDataSource, migrateLocked } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { FlavorsService } from '../flavors/flavors.service';
import { KeypairsService } from '../keypairs/keypairs.service';
import { QuotaService } from '../quotas/quota.service';
import { GroupsService } from '../server-groups/groups.service';
import { ServersService } from '../servers.service';

const url = process.env.NUBO_DATABASE_URL;
const run = url ? describe : describe.skip;

const NET = '0b6c2b3e-7a51-4c43-9d1e-1f2a3b4c5d6e';
const FREE_PORT = 'a1b2c3d4-e5f6-4789-abcd-ef0123456789';
const USED_PORT = 'b1b2c3d4-e5f6-4789-abcd-ef0123456789';

run(`${ServersService.name} with networks (PostgreSQL)`, () => {
  const tag = `it-${randomUUID().slice(0, 8)}`;
  const auth = { userId: `${tag}-u`, projectId: `${tag}-p`, isAdmin: false, roles: [] } as unknown as AuthContext;
  let db: DataSource;
  let servers: ServersService;
  let enqueued: string[];
  let calls: Array<{ subject: string; request: unknown }>;

  const items: Record<string, Record<string, unknown>> = {
    [NET]: { id: NET, name: 'private', subnets: ['s1'] },
    [FREE_PORT]: { id: FREE_PORT, device_id: '', fixed_ips: [{ ip_address: '10.0.0.9' }] },
    [USED_PORT]: { id: USED_PORT, device_id: randomUUID(), fixed_ips: [{ ip_address: '10.0.0.8' }] },
  };
  const rpc = {
    call: async (subject: string, _op: unknown, request: { id?: string; serverIds?: string[] }) => {
      calls.push({ subject, request });
      if (subject === 'network.binding.addresses') {
        return { servers: Object.fromEntries(request.serverIds!.map((id) => [id, [{ network: 'private', addr: '10.0.0.5', version: 4, mac: 'fa:16:3e:00:00:01' }]])) };
      }
      const item = items[request.id!];
      if (!item) throw new NotFoundError('not found');
      return { item };
    },
  } as unknown as RpcClient;

  const body = (networks?: unknown) => ({ server: { name: `${tag}-vm`, flavorRef: '42', ...(networks === undefined ? {} : { networks }) } });
  const stored = async () =>
    db.query(`SELECT id, requested_networks FROM compute.servers WHERE project_id = $1 ORDER BY created_at`, [auth.projectId]) as Promise<
      Array<{ id: string; requested_networks: unknown }>
    >;
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);

  beforeAll(async () => {
    db = createDataSource({ url: url!, schemas: ['identity', 'compute'], applicationName: 'servers-networks-it', poolSize: 4 });
    await db.initialize();
    await migrateLocked(db);
    const jobs = { enqueue: async (_name: string, payload: { serverId: string }) => void enqueued.push(payload.serverId) } as unknown as JobQueue;
    const quotas = new QuotaService(db);
    servers = new ServersService(db, jobs, rpc, new FlavorsService(db), quotas, new GroupsService(db, quotas), new KeypairsService(db, quotas));
  });

  afterAll(async () => {
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.servers WHERE project_id = $1`, [auth.projectId]);
    await db.destroy();
  });

  beforeEach(async () => {
    await db.query(`DELETE FROM compute.instance_actions WHERE project_id = $1`, [auth.projectId]);
    await db.query(`DELETE FROM compute.servers WHERE project_id = $1`, [auth.projectId]);
    enqueued = [];
    calls = [];
  });

  it('checks the network and the port with the caller and stores the request with the server', async () => {
    const networks = [{ uuid: NET, fixed_ip: '10.0.0.7' }, { port: FREE_PORT }];
    const created = await servers.create(servers.parseCreate(body(networks)), auth, `${tag}-r1`);
    const caller = { projectId: auth.projectId, isAdmin: false };
    expect(calls).toEqual([
      { subject: 'network.networks.show', request: { caller, id: NET, query: {} } },
      { subject: 'network.ports.show', request: { caller, id: FREE_PORT, query: {} } },
    ]);
    expect(await stored()).toEqual([{ id: created.id, requested_networks: [{ networkId: NET, fixedIp: '10.0.0.7' }, { portId: FREE_PORT }] }]);
    expect(enqueued).toEqual([created.id]);
  });

  it.each<[string, unknown]>([['absent', undefined], ['"auto"', 'auto'], ['"none"', 'none'], ['[]', []]])(
    'stores no networks and asks the network service nothing for networks %s',
    async (_name, networks) => {
      const created = await servers.create(servers.parseCreate(body(networks)), auth, `${tag}-r2`);
      expect(await stored()).toEqual([{ id: created.id, requested_networks: null }]);
      expect(calls).toEqual([]);
    },
  );

  it.each<[string, unknown, Error]>([
    ['an unknown network', [{ uuid: randomUUID() }], new ValidationError('could not be found.')],
    ['an unknown port', [{ port: randomUUID() }], new ValidationError('could not be found.')],
    ['a port in use', [{ port: USED_PORT }], new ConflictError(`Port ${USED_PORT} is still in use.`)],
  ])('refuses %s and creates nothing', async (_name, networks, expected) => {
    const error = await failure(servers.create(servers.parseCreate(body(networks)), auth, `${tag}-r3`));
    expect(error).toBeInstanceOf(expected.constructor);
    expect(error!.message).toContain(expected.message);
    expect(await stored()).toEqual([]);
    expect(enqueued).toEqual([]);
  });

  it("reads the addresses of a response's servers in one call, for those with networks only", async () => {
    const on = await servers.create(servers.parseCreate(body([{ uuid: NET }])), auth, `${tag}-r4`);
    const off = await servers.create(servers.parseCreate(body()), auth, `${tag}-r5`);
    calls = [];
    const addresses = await servers.addresses([on, off], 'r6');
    expect(calls).toEqual([{ subject: 'network.binding.addresses', request: { serverIds: [on.id] } }]);
    expect(addresses.get(on.id)).toEqual({ private: [{ version: 4, addr: '10.0.0.5', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' }] });
    expect(addresses.get(off.id)).toEqual({});
  });
});
