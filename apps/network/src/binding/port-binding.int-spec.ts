/**
 * Servers' ports against real PostgreSQL, the agents faked: what bind creates, takes, binds and
 * pushes (and to which hosts, in which order), that a retried bind creates nothing twice, what
 * unbind leaves, the addresses view, and the state a host is pushed (peers from heartbeats,
 * remote groups expanded).
 */
import { AgentNetworkOps, HostNetworkState, NetworkSyncReply, NuboError } from '@nubo/contracts';
import { createDataSource } from '@nubo/database';
import { PrivateDatabase, createPrivateDatabase } from '@nubo/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { NetworksService } from '../networks/networks.service';
import { PortsService } from '../ports/ports.service';
import { SecurityGroupsService } from '../security-groups/security-groups.service';
import { SubnetsService } from '../subnets/subnets.service';
import { BindingHandlers } from './binding.handlers';
import { HostSync } from './host-sync';
import { PortBindingService } from './port-binding.service';
import { DesiredDataPlane } from '@nubo/netlinks';
import { DesiredDhcpNetwork } from '../dataplane/dhcp';
import { NetworkNode } from '../dataplane/network-node';
import { L3Changes } from '../routers/l3-store';
import { RouterInterfacesService } from '../routers/router-interfaces.service';
import { RoutersService } from '../routers/routers.service';

const sharedUrl = process.env.NUBO_DATABASE_URL;
const run = sharedUrl ? describe : describe.skip;

run(PortBindingService.name, () => {
  let database: PrivateDatabase;
  let db: DataSource;
  let networks: NetworksService;
  let subnets: SubnetsService;
  let ports: PortsService;
  let bindings: PortBindingService;
  let heartbeats: BindingHandlers;
  /** Every push, in order: the host and the state it was sent. */
  const pushes: Array<{ host: string; state: HostNetworkState }> = [];
  let project: { projectId: string; isAdmin: boolean };

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_binding', ['network']);
    db = await createDataSource({ url: database.url, schemas: ['network'], applicationName: 'binding-it', poolSize: 4 }).initialize();
    networks = new NetworksService(db, { first: 1000, last: 1999 });
    const groups = new SecurityGroupsService(db);
    subnets = new SubnetsService(db, networks);
    ports = new PortsService(db, networks, groups);
    const agents = {
      async call(subject: string, _op: typeof AgentNetworkOps.sync, req: { state: HostNetworkState }): Promise<NetworkSyncReply> {
        pushes.push({ host: subject.split('.')[1], state: req.state });
        return { linkOps: 0, refusedNetworks: [], blockedPorts: [] };
      },
    };
    const hosts = new HostSync(db, agents as never);
    bindings = new PortBindingService(db, ports, hosts);
    heartbeats = new BindingHandlers(db, { handle: () => undefined, onEvent: () => undefined } as never, bindings, hosts);
  }, 60_000);

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  beforeEach(() => {
    pushes.length = 0;
    project = { projectId: `p-${randomUUID().slice(0, 8)}`, isAdmin: false };
  });

  async function network(cidr: string): Promise<string> {
    const net = (await networks.create(project, { network: { name: `net-${cidr}` } })).id as string;
    await subnets.create(project, { subnet: { network_id: net, ip_version: 4, cidr } });
    return net;
  }
  const heartbeat = (hostId: string, underlayIp: string, agentStartedAt = 't0') =>
    heartbeats.onHeartbeat({ hostId, underlayIp, agentStartedAt } as never);

  it('creates a port for a network, binds it to the host and pushes the host before answering; a retry creates nothing', async () => {
    const net = await network('10.10.0.0/24');
    const server = randomUUID();
    const request = { serverId: server, projectId: project.projectId, hostId: 'h1', requested: [{ networkId: net }] };
    const [bound] = await bindings.bind(request);
    expect(bound).toMatchObject({ networkId: net, mtu: 1450, fixedIps: ['10.10.0.2'], autoCreated: true });
    expect(bound.mac).toMatch(/^fa:16:3e:/);
    expect(pushes.map((p) => p.host)).toEqual(['h1']);
    const [port] = pushes[0].state.ports;
    expect(port).toMatchObject({ id: bound.portId, networkId: net, fixedIps: ['10.10.0.2'], portSecurityEnabled: true });
    // The default group: ingress from its own members (this port), egress anywhere.
    expect(port.rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ direction: 'ingress', ethertype: 'IPv4', remoteGroupPrefixes: ['10.10.0.2'] }),
        expect.objectContaining({ direction: 'egress', ethertype: 'IPv4', remoteGroupPrefixes: null, remoteIpPrefix: null }),
      ]),
    );
    expect(pushes[0].state.networks).toEqual([expect.objectContaining({ id: net, type: 'vxlan', mtu: 1450, peers: [] })]);
    const again = await bindings.bind(request);
    expect(again.map((p) => p.portId)).toEqual([bound.portId]);
    const [{ n, status }] = await db.query(`SELECT count(*)::int AS n, min(status) AS status FROM network.ports WHERE device_id = $1`, [server]);
    expect({ n, status }).toEqual({ n: 1, status: 'ACTIVE' });
  });

  it("gives hosts their peers from the agents' heartbeats, and pushes the first host again when a second joins", async () => {
    const net = await network('10.11.0.0/24');
    await heartbeat('ha', '10.77.0.11');
    await heartbeat('hb', '10.77.0.12');
    await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'ha', requested: [{ networkId: net }] });
    pushes.length = 0;
    await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'hb', requested: [{ networkId: net }] });
    expect(pushes.map((p) => [p.host, p.state.networks.find((n) => n.id === net)?.peers])).toEqual([
      ['hb', ['10.77.0.11']],
      ['ha', ['10.77.0.12']],
    ]);
  });

  it('takes a port the user named, refuses one in use, and unbind leaves it (deleting only what bind created)', async () => {
    const net = await network('10.12.0.0/24');
    const own = await ports.create(project, { port: { network_id: net } });
    const server = randomUUID();
    const bound = await bindings.bind({
      serverId: server,
      projectId: project.projectId,
      hostId: 'h1',
      requested: [{ portId: own.id as string }, { networkId: net, fixedIp: '10.12.0.50' }],
    });
    expect(bound.map((p) => [p.portId === own.id, p.autoCreated, p.fixedIps])).toEqual([
      [true, false, [(own.fixed_ips as Array<{ ip_address: string }>)[0].ip_address]],
      [false, true, ['10.12.0.50']],
    ]);
    const stolen = await bindings
      .bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'h2', requested: [{ portId: own.id as string }] })
      .catch((e: NuboError) => e.details.type);
    expect(stolen).toBe('PortInUse');
    expect(await bindings.addresses([server])).toEqual({
      [server]: [
        { network: 'net-10.12.0.0/24', addr: (own.fixed_ips as Array<{ ip_address: string }>)[0].ip_address, version: 4, mac: own.mac_address },
        { network: 'net-10.12.0.0/24', addr: '10.12.0.50', version: 4, mac: bound[1].mac },
      ],
    });
    pushes.length = 0;
    await expect(bindings.unbind(server)).resolves.toBe(2);
    await expect(bindings.unbind(server)).resolves.toBe(0);
    expect(pushes.map((p) => p.host)).toContain('h1');
    expect(pushes.find((p) => p.host === 'h1')?.state.ports.filter((p) => p.networkId === net)).toEqual([]);
    const left = await db.query(`SELECT id, device_id, binding_host_id, status FROM network.ports WHERE network_id = $1`, [net]);
    expect(left).toEqual([{ id: own.id, device_id: '', binding_host_id: '', status: 'DOWN' }]);
  });

  it("pushes an agent that restarted with ports on its host, and not one that only beats", async () => {
    const net = await network('10.13.0.0/24');
    await heartbeat('hr', '10.77.0.21', 'boot-1');
    await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'hr', requested: [{ networkId: net }] });
    pushes.length = 0;
    await heartbeat('hr', '10.77.0.21', 'boot-1');
    expect(pushes).toEqual([]);
    await heartbeat('hr', '10.77.0.21', 'boot-2');
    expect(pushes.map((p) => p.host)).toEqual(['hr']);
  });
});

run('NetworkNode', () => {
  let database: PrivateDatabase;
  let db: DataSource;
  let bindings: PortBindingService;
  let networks: NetworksService;
  let subnets: SubnetsService;
  let node: NetworkNode;
  let routers: RoutersService;
  let interfaces: RouterInterfacesService;
  const pushes: Array<{ host: string; state: HostNetworkState }> = [];
  const linkStates: DesiredDataPlane[] = [];
  const dhcpStates: DesiredDhcpNetwork[][] = [];

  beforeAll(async () => {
    database = await createPrivateDatabase(sharedUrl!, 'nubo_it_node', ['network']);
    db = await createDataSource({ url: database.url, schemas: ['network'], applicationName: 'node-it', poolSize: 4 }).initialize();
    networks = new NetworksService(db, { first: 1000, last: 1999 });
    const groups = new SecurityGroupsService(db);
    subnets = new SubnetsService(db, networks);
    const ports = new PortsService(db, networks, groups);
    const agents = {
      async call(subject: string, _op: unknown, req: { state: HostNetworkState }): Promise<NetworkSyncReply> {
        pushes.push({ host: subject.split('.')[1], state: req.state });
        return { linkOps: 0, refusedNetworks: [], blockedPorts: [] };
      },
    };
    node = new NetworkNode(
      db,
      ports,
      { converge: async (d: DesiredDataPlane) => (linkStates.push(d), { ops: [], refused: [] }) },
      { sync: async (d: DesiredDhcpNetwork[]) => (dhcpStates.push(d), { started: [], restarted: [], reloaded: [], unchanged: [], removed: [], failed: [] }) },
      { nodeId: 'netnode', underlayIp: '10.77.0.2', netns: 'cloud-net', physicalInterfaces: { ext: 'extp' } },
    );
    const changes = new L3Changes();
    routers = new RoutersService(db, networks, changes);
    interfaces = new RouterInterfacesService(db, routers, changes);
    bindings = new PortBindingService(db, ports, new HostSync(db, agents as never), node);
    const heartbeats = new BindingHandlers(db, { handle: () => undefined, onEvent: () => undefined } as never, bindings, new HostSync(db, agents as never));
    await heartbeats.onHeartbeat({ hostId: 'c1', underlayIp: '10.77.0.11', agentStartedAt: 't0' } as never);
    await node.start();
  }, 60_000);

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('serves a network once a server port is bound: a DHCP port with its own address, the lease, VXLAN peers both ways', async () => {
    const project = { projectId: 'p-node', isAdmin: false };
    const net = (await networks.create(project, { network: { name: 'lan' } })).id as string;
    await subnets.create(project, { subnet: { network_id: net, ip_version: 4, cidr: '10.20.0.0/24', dns_nameservers: ['10.20.0.53'] } });
    expect(dhcpStates.at(-1)).toEqual([]); // nothing bound yet: nothing served
    const [bound] = await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'c1', requested: [{ networkId: net }] });
    const served = dhcpStates.at(-1)!;
    expect(served).toHaveLength(1);
    expect(served[0]).toMatchObject({
      networkId: net,
      mtu: 1450,
      bridgeNetns: 'cloud-net',
      subnets: [expect.objectContaining({ cidr: '10.20.0.0/24', gatewayIp: '10.20.0.1', dnsNameservers: ['10.20.0.53'], enableDhcp: true })],
      leases: [{ portId: bound.portId, mac: bound.mac, ipAddress: bound.fixedIps[0] }],
    });
    expect(served[0].dhcpPort.ipAddresses).toHaveLength(1);
    expect(served[0].dhcpPort.ipAddresses[0]).not.toBe(bound.fixedIps[0]);
    expect(linkStates.at(-1)).toMatchObject({ underlayAddress: '10.77.0.2', networks: [{ id: net, type: 'vxlan', peers: ['10.77.0.11'] }], ports: [] });
    // The compute host takes the network node as a peer (the DHCP port is bound there).
    const c1 = pushes.filter((p) => p.host === 'c1').at(-1)!;
    expect(c1.state.networks.find((n) => n.id === net)?.peers).toEqual(['10.77.0.2']);
    expect(pushes.map((p) => p.host)).not.toContain('netnode');
  });

  it("serves the networks a router is on (the flat external one on its physical interface, one without DHCP) and binds the router's ports to the node", async () => {
    const admin = { projectId: 'p-admin', isAdmin: true };
    const project = { projectId: 'p-routed', isAdmin: false };
    const ext = (await networks.create(admin, { network: { name: 'public', 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': 'ext' } })).id as string;
    await subnets.create(admin, { subnet: { network_id: ext, ip_version: 4, cidr: '203.0.113.0/24', enable_dhcp: false } });
    const net = (await networks.create(project, { network: { name: 'routed' } })).id as string;
    const subnet = (await subnets.create(project, { subnet: { network_id: net, ip_version: 4, cidr: '10.21.0.0/24', enable_dhcp: false } })).id as string;
    const router = (await routers.create(project, { router: { name: 'r', external_gateway_info: { network_id: ext } } })).id as string;
    await interfaces.add(project, router, { subnet_id: subnet });
    await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'c1', requested: [{ networkId: net }] });
    await node.sync();

    const served = linkStates.at(-1)!.networks;
    expect(served.find((n) => n.id === ext)).toEqual(expect.objectContaining({ type: 'flat', physicalInterface: 'extp', peers: [] }));
    expect(served.find((n) => n.id === net)).toEqual(expect.objectContaining({ type: 'vxlan', peers: ['10.77.0.11'] }));
    expect(dhcpStates.at(-1)!.map((d) => d.networkId)).not.toContain(net); // no DHCP subnet: no dnsmasq, no DHCP port
    const routerPorts: Array<{ device_owner: string; binding_host_id: string }> = await db.query(
      `SELECT device_owner, binding_host_id FROM network.ports WHERE device_id = $1 ORDER BY device_owner`,
      [router],
    );
    expect(routerPorts).toEqual([
      { device_owner: 'network:router_gateway', binding_host_id: 'netnode' },
      { device_owner: 'network:router_interface', binding_host_id: 'netnode' },
    ]);
    // The compute host's next push has the node as its peer on the routed network (the router's port is there).
    await bindings.bind({ serverId: randomUUID(), projectId: project.projectId, hostId: 'c1', requested: [{ networkId: net }] });
    expect(pushes.filter((p) => p.host === 'c1').at(-1)!.state.networks.find((n) => n.id === net)?.peers).toEqual(['10.77.0.2']);
  });
});
