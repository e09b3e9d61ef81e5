/**
 * The network's part of a live migration against real PostgreSQL, the agents and the network
 * node's data plane faked: what each host is pushed after prepare, commit and abort (taps and
 * rules on the destination, VXLAN peers everywhere), where the ports are bound, that retries
 * change nothing, and what bad input does.
 */
import { AgentNetworkOps, HostNetworkState, NetworkSyncReply, ValidationError } from '@nubo/contracts';
import { createDataSource } from '@nubo/database';
import { DesiredDataPlane } from '@nubo/netlinks';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DesiredDhcpNetwork } from '../dataplane/dhcp';
import { NetworkNode } from '../dataplane/network-node';
import { NetworksService } from '../networks/networks.service';
import { PortsService } from '../ports/ports.service';
import { SecurityGroupsService } from '../security-groups/security-groups.service';
import { SubnetsService } from '../subnets/subnets.service';
import { BindingHandlers } from './binding.handlers';
import { hostNetworkState } from './host-network-state';
import { HostSync } from './host-sync';
import { PortBindingService } from './port-binding.service';
import { PortMigrationService } from './port-migration.service';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;
const NODE_IP = '10.88.0.2';

run(PortMigrationService.name, () => {
  let database: PrivateDatabase;
  let db: DataSource;
  let networks: NetworksService;
  let subnets: SubnetsService;
  let ports: PortsService;
  let bindings: PortBindingService;
  let migrations: PortMigrationService;
  let heartbeats: BindingHandlers;
  /** Every push, in order: the host and the state it was sent. */
  const pushes: Array<{ host: string; state: HostNetworkState }> = [];
  /** Hosts whose agent answers with an error. */
  const failing = new Set<string>();
  const nodeStates: DesiredDataPlane[] = [];
  let project: { projectId: string; isAdmin: boolean };
  let cloudNo = 0;

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_port_migration', ['network']);
    db = await createDataSource({ url: database.url, schemas: ['network'], applicationName: 'port-migration-it', poolSize: 4 }).initialize();
    networks = new NetworksService(db, { first: 1000, last: 1999 });
    const groups = new SecurityGroupsService(db);
    subnets = new SubnetsService(db, networks);
    ports = new PortsService(db, networks, groups);
    const agents = {
      async call(subject: string, _op: typeof AgentNetworkOps.sync, req: { state: HostNetworkState }): Promise<NetworkSyncReply> {
        const host = subject.split('.')[1];
        if (failing.has(host)) throw new Error(`agent ${host} is down`);
        pushes.push({ host, state: req.state });
        return { linkOps: 0, refusedNetworks: [], blockedPorts: [] };
      },
    };
    const node = new NetworkNode(
      db,
      ports,
      { converge: async (d: DesiredDataPlane) => (nodeStates.push(d), { ops: [], refused: [] }) },
      { sync: async (_d: DesiredDhcpNetwork[]) => ({ started: [], restarted: [], reloaded: [], unchanged: [], removed: [], failed: [] }) },
      { nodeId: 'netnode', underlayIp: NODE_IP },
    );
    await node.start();
    const hosts = new HostSync(db, agents as never);
    bindings = new PortBindingService(db, ports, hosts, node);
    migrations = new PortMigrationService(db, hosts, node);
    heartbeats = new BindingHandlers(db, { handle: () => undefined, onEvent: () => undefined } as never, bindings, hosts, migrations);
  }, 60_000);

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  beforeEach(() => {
    pushes.length = 0;
    failing.clear();
    project = { projectId: `p-${randomUUID().slice(0, 8)}`, isAdmin: false };
  });

  /**
   * Three hosts of their own (h1, h2, h3, underlay 10.88.<n>.1..3), networks A and B; server S
   * with a port on each, bound to h1; server T on A, bound to h2.
   */
  async function cloud() {
    const n = ++cloudNo;
    const [h1, h2, h3] = [1, 2, 3].map((i) => `m${n}-h${i}`);
    const [ip1, ip2, ip3] = [1, 2, 3].map((i) => `10.88.${n}.${i}`);
    for (const [h, ip] of [[h1, ip1], [h2, ip2], [h3, ip3]]) await heartbeats.onHeartbeat({ hostId: h, underlayIp: ip, agentStartedAt: 't0' } as never);
    const netA = await network(`10.${40 + n}.1.0/24`);
    const netB = await network(`10.${40 + n}.2.0/24`);
    const server = randomUUID();
    await bindings.bind({ serverId: server, projectId: project.projectId, hostId: h1, requested: [{ networkId: netA }, { networkId: netB }] });
    await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: h2, requested: [{ networkId: netA }] });
    pushes.length = 0;
    return { h1, h2, h3, ip1, ip2, ip3, netA, netB, server };
  }

  async function network(cidr: string): Promise<string> {
    const net = (await networks.create(project, { network: { name: `net-${cidr}` } })).id as string;
    await subnets.create(project, { subnet: { network_id: net, ip_version: 4, cidr } });
    return net;
  }

  const lastPush = (host: string) => pushes.filter((p) => p.host === host).at(-1)?.state;
  const peers = (state: HostNetworkState | undefined, net: string) => state?.networks.find((n) => n.id === net)?.peers;
  const nodePeers = (net: string) => nodeStates.at(-1)?.networks.find((n) => n.id === net)?.peers;
  const states = (...hosts: string[]) => Promise.all(hosts.map((h) => hostNetworkState(db, h)));
  const boundTo = async (server: string) =>
    (await db.query(`SELECT DISTINCT binding_host_id AS host FROM network.ports WHERE device_id = $1`, [server])).map((r: { host: string }) => r.host);
  const migrationRows = async (server: string) =>
    (await db.query(`SELECT count(*)::int AS n FROM network.port_migrations m JOIN network.ports p ON p.id = m.port_id WHERE p.device_id = $1`, [server]))[0].n;

  describe('prepare', () => {
    it("plumbs the server's ports on the destination (same MACs and rules), keeps them on the source, and makes the destination everyone's peer; a retry changes nothing", async () => {
      const c = await cloud();
      const [source] = await states(c.h1);
      expect(source.ports).toHaveLength(2);

      await expect(migrations.prepare({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(pushes[0].host).toBe(c.h3); // the destination answers first: its QEMU starts next
      const h3 = lastPush(c.h3)!;
      expect(h3.ports).toEqual(source.ports);
      expect(h3.ports[0].rules.length).toBeGreaterThan(0);
      expect(peers(h3, c.netA)).toEqual([c.ip1, c.ip2, NODE_IP].sort());
      expect(peers(h3, c.netB)).toEqual([c.ip1, NODE_IP].sort());
      expect(lastPush(c.h1)!.ports).toEqual(source.ports);
      expect(peers(lastPush(c.h1), c.netA)).toEqual([c.ip2, c.ip3, NODE_IP].sort());
      expect(peers(lastPush(c.h1), c.netB)).toEqual([c.ip3, NODE_IP].sort());
      expect(peers(lastPush(c.h2), c.netA)).toEqual([c.ip1, c.ip3, NODE_IP].sort());
      expect(nodePeers(c.netA)).toEqual([c.ip1, c.ip2, c.ip3].sort());
      expect(nodePeers(c.netB)).toEqual([c.ip1, c.ip3].sort());
      expect(await boundTo(c.server)).toEqual([c.h1]);

      const prepared = await states(c.h1, c.h2, c.h3);
      pushes.length = 0;
      await expect(migrations.prepare({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(await states(c.h1, c.h2, c.h3)).toEqual(prepared);
      expect([lastPush(c.h1), lastPush(c.h2), lastPush(c.h3)]).toEqual(prepared);
      expect(await migrationRows(c.server)).toBe(2);
    });

    it('fails when the destination cannot be pushed, and a retry pushes it', async () => {
      const c = await cloud();
      failing.add(c.h3);
      await expect(migrations.prepare({ serverId: c.server, destinationHostId: c.h3 })).rejects.toThrow(`agent ${c.h3} is down`);
      failing.clear();
      await expect(migrations.prepare({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(lastPush(c.h3)!.ports).toHaveLength(2);
    });

    it("forgets a prepared port that leaves the server (unbound), so the destination never gets it", async () => {
      const c = await cloud();
      const own = await ports.create(project, { port: { network_id: c.netA } });
      const server = randomUUID();
      await bindings.bind({ serverId: server, projectId: project.projectId, hostId: c.h1, requested: [{ portId: own.id as string }] });
      await migrations.prepare({ serverId: server, destinationHostId: c.h3 });
      expect((await states(c.h3))[0].ports.map((p) => p.id)).toContain(own.id);
      await bindings.unbind(server);
      expect(await migrationRows(server)).toBe(0);
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM network.port_migrations WHERE port_id = $1`, [own.id]);
      expect(n).toBe(0);
      await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: c.h2, requested: [{ portId: own.id as string }] });
      expect((await states(c.h3))[0].ports.map((p) => p.id)).not.toContain(own.id);
    });
  });

  describe('commit', () => {
    it('binds the ports to the destination: the source loses them, peers follow everywhere; a retry answers the same and changes nothing', async () => {
      const c = await cloud();
      const [source] = await states(c.h1);
      await migrations.prepare({ serverId: c.server, destinationHostId: c.h3 });
      pushes.length = 0;

      await expect(migrations.commit({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(await boundTo(c.server)).toEqual([c.h3]);
      expect(await migrationRows(c.server)).toBe(0);
      expect(lastPush(c.h1)).toEqual({ networks: [], ports: [] });
      const h3 = lastPush(c.h3)!;
      expect(h3.ports).toEqual(source.ports);
      expect(peers(h3, c.netA)).toEqual([c.ip2, NODE_IP].sort());
      expect(peers(h3, c.netB)).toEqual([NODE_IP]);
      expect(peers(lastPush(c.h2), c.netA)).toEqual([c.ip3, NODE_IP].sort());
      expect(nodePeers(c.netA)).toEqual([c.ip2, c.ip3].sort());
      expect(nodePeers(c.netB)).toEqual([c.ip3]);

      const committed = await states(c.h1, c.h2, c.h3);
      await expect(migrations.commit({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(await states(c.h1, c.h2, c.h3)).toEqual(committed);
      expect(await boundTo(c.server)).toEqual([c.h3]);
    });

    it('is not undone by an abort that comes after it', async () => {
      const c = await cloud();
      await migrations.prepare({ serverId: c.server, destinationHostId: c.h3 });
      await migrations.commit({ serverId: c.server, destinationHostId: c.h3 });
      const committed = await states(c.h1, c.h2, c.h3);
      pushes.length = 0;
      await expect(migrations.abort({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(pushes).toEqual([]);
      expect(await states(c.h1, c.h2, c.h3)).toEqual(committed);
      expect(await boundTo(c.server)).toEqual([c.h3]);
    });
  });

  describe('abort', () => {
    it('drops the destination copy and its peers; the source stays as it was; a retry changes nothing', async () => {
      const c = await cloud();
      const before = await states(c.h1, c.h2);
      const nodeBefore = [nodePeers(c.netA), nodePeers(c.netB)];
      await migrations.prepare({ serverId: c.server, destinationHostId: c.h3 });
      pushes.length = 0;

      await expect(migrations.abort({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(lastPush(c.h3)).toEqual({ networks: [], ports: [] });
      expect([lastPush(c.h1), lastPush(c.h2)]).toEqual(before);
      expect(await states(c.h1, c.h2)).toEqual(before);
      expect([nodePeers(c.netA), nodePeers(c.netB)]).toEqual(nodeBefore);
      expect(await boundTo(c.server)).toEqual([c.h1]);
      expect(await migrationRows(c.server)).toBe(0);

      pushes.length = 0;
      await expect(migrations.abort({ serverId: c.server, destinationHostId: c.h3 })).resolves.toEqual({ ports: 2 });
      expect(lastPush(c.h3)).toEqual({ networks: [], ports: [] }); // pushed again: a retry repairs a failed push
      expect(await states(c.h1, c.h2)).toEqual(before);
    });
  });

  describe('bad input', () => {
    it.each(['prepare', 'commit', 'abort'] as const)('%s refuses a bad destinationHostId naming the field and persists nothing', async (op) => {
      const c = await cloud();
      for (const destinationHostId of ['', 'h 1', 'x'.repeat(65), 'a.b', 42 as unknown as string]) {
        const error = await migrations[op]({ serverId: c.server, destinationHostId }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).details).toEqual({ field: 'destinationHostId' });
      }
      expect(await migrationRows(c.server)).toBe(0);
      expect(await boundTo(c.server)).toEqual([c.h1]);
      expect(pushes).toEqual([]);
    });

    it.each(['prepare', 'commit', 'abort'] as const)('%s answers 0 ports for a server with none, pushing nothing', async (op) => {
      await expect(migrations[op]({ serverId: randomUUID(), destinationHostId: 'm0-h3' })).resolves.toEqual({ ports: 0 });
      expect(pushes).toEqual([]);
    });

    it('refuses a serverId that is not a UUID', async () => {
      await expect(migrations.prepare({ serverId: 'nope', destinationHostId: 'h3' })).rejects.toMatchObject({ details: { field: 'serverId' } });
    });
  });
});
