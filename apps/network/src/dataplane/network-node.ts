/**
 * The network node's role (Neutron's DHCP agent and the ground its L3 agent stands on):
 * - every network that has a DHCP-enabled subnet and a server port bound somewhere gets a DHCP
 *   port here (device_owner network:dhcp, its addresses from IPAM like any port, bound to this
 *   node so compute hosts take the node as a VXLAN peer) and a dnsmasq serving its static leases;
 * - every network a router is on (interfaces and gateways) gets its bridge here, for the router
 *   namespaces' veths; the router's ports are bound to this node (the hosts' VXLAN peer again);
 * - a served network has its bridge and VXLAN device with the compute hosts as peers, or, flat
 *   (the external network), its bridge on the physical interface mapped to its physical network.
 * sync() reads everything again, so it is safe to call any time; calls while one runs collapse
 * into one more.
 */
import { Logger } from '@nestjs/common';
import { DesiredDataPlane, HostLinks, bridgeName } from '@nubo/netlinks';
import { DataSource } from 'typeorm';
import { PortsService } from '../ports/ports.service';
import { DesiredDhcpNetwork, DhcpDataplane } from './dhcp';
import { CoalescedRuns } from '../common/coalesced-runs';

/** Networks that a router's ports are on (interfaces and gateways): their bridges must exist on the node. */
export const ROUTED_NETWORKS_SQL = `SELECT DISTINCT p.network_id FROM network.ports p JOIN network.routers r ON r.id::text = p.device_id
  WHERE p.device_owner IN ('network:router_interface', 'network:router_gateway') AND r.admin_state_up`;

export interface NetworkNodeOptions {
  /** Its id as a port binding host (and in network.agent_hosts, for the compute hosts' peers). */
  nodeId: string;
  underlayIp: string;
  /** The namespace of its data plane (the all-in-one cloud's `<cloud>-net`); undefined: the root one. */
  netns?: string;
  /** Physical network -> interface on the node (flat networks, the external one above all). */
  physicalInterfaces?: Record<string, string>;
}

interface ServedNetwork {
  id: string;
  project_id: string;
  mtu: number;
  network_type: 'vxlan' | 'vlan' | 'flat';
  segmentation_id: number | null;
  physical_network: string | null;
  peers: string[];
  /** A DHCP-enabled subnet and a server port bound somewhere: dnsmasq serves it. */
  dhcp: boolean;
}

export class NetworkNode {
  private readonly logger = new Logger(NetworkNode.name);
  private readonly runs = new CoalescedRuns(() => this.run());

  constructor(
    private readonly db: DataSource,
    private readonly ports: PortsService,
    private readonly links: Pick<HostLinks, 'converge'>,
    private readonly dhcp: Pick<DhcpDataplane, 'sync'>,
    private readonly options: NetworkNodeOptions,
  ) {}

  /** Registers the node's underlay address (the compute hosts' VXLAN peer) and syncs. */
  async start(): Promise<void> {
    await this.db.query(
      `INSERT INTO network.agent_hosts (host_id, underlay_ip, agent_started_at) VALUES ($1, $2::inet, 'network-node')
       ON CONFLICT (host_id) DO UPDATE SET underlay_ip = EXCLUDED.underlay_ip, updated_at = now()`,
      [this.options.nodeId, this.options.underlayIp],
    );
    await this.sync();
  }

  sync(): Promise<void> {
    return this.runs.run();
  }

  private async run(): Promise<void> {
    await this.bindRouterPorts();
    const networks = await this.served();
    for (const n of networks.filter((x) => x.dhcp)) await this.ensureDhcpPort(n);
    const physical = this.options.physicalInterfaces ?? {};
    const desired: DesiredDataPlane = {
      underlayAddress: this.options.underlayIp,
      networks: networks.map((n) => ({
        id: n.id, type: n.network_type, segmentationId: n.segmentation_id ?? undefined, mtu: n.mtu, peers: n.peers,
        ...(n.physical_network && physical[n.physical_network] ? { physicalInterface: physical[n.physical_network] } : {}),
      })),
      ports: [],
    };
    const plan = await this.links.converge(desired);
    for (const r of plan.refused) this.logger.warn(`network ${r.networkId} not served on the network node: ${r.reason}`);
    const refused = new Set(plan.refused.map((r) => r.networkId));
    const result = await this.dhcp.sync(await this.dhcpNetworks(networks.filter((n) => n.dhcp && !refused.has(n.id))));
    for (const f of result.failed) this.logger.warn(`DHCP for network ${f.networkId} failed: ${f.error}`);
  }

  /** Router ports of routers that are up, bound to this node: the hosts on their networks peer with it. */
  private async bindRouterPorts(): Promise<void> {
    await this.db.query(
      `UPDATE network.ports p SET binding_host_id = $1, status = 'ACTIVE'
         FROM network.routers r
        WHERE r.id::text = p.device_id AND r.admin_state_up AND p.device_owner IN ('network:router_interface', 'network:router_gateway')
          AND p.binding_host_id <> $1`,
      [this.options.nodeId],
    );
  }

  /**
   * DHCP networks (VXLAN, a DHCP-enabled subnet, a server port bound to a host) and routed ones
   * (a port of a router that is up); peers = the compute hosts with ports on the network.
   */
  private served(): Promise<ServedNetwork[]> {
    return this.db.query(
      `WITH dhcp AS (
         SELECT n.id FROM network.networks n
          WHERE n.network_type = 'vxlan'
            AND EXISTS (SELECT 1 FROM network.subnets s WHERE s.network_id = n.id AND s.enable_dhcp)
            AND EXISTS (SELECT 1 FROM network.ports p WHERE p.network_id = n.id AND p.device_owner LIKE 'compute:%' AND p.binding_host_id <> '')),
       routed AS (${ROUTED_NETWORKS_SQL})
       SELECT n.id, n.project_id, n.mtu, n.network_type, n.segmentation_id, n.physical_network, n.id IN (SELECT id FROM dhcp) AS dhcp,
              coalesce((SELECT array_agg(DISTINCT host(h.underlay_ip) ORDER BY host(h.underlay_ip))
                          FROM network.ports p JOIN network.agent_hosts h ON h.host_id = p.binding_host_id
                               -- a live migration's destination too (network.port_migrations)
                               OR h.host_id IN (SELECT m.destination_host_id FROM network.port_migrations m WHERE m.port_id = p.id)
                         WHERE p.network_id = n.id AND h.host_id NOT IN ('', $1) AND h.underlay_ip IS NOT NULL), '{}') AS peers
         FROM network.networks n
        WHERE n.id IN (SELECT id FROM dhcp) OR n.id IN (SELECT network_id FROM routed)
        ORDER BY n.id`,
      [this.options.nodeId],
    );
  }

  /** The network's DHCP port, created once (Neutron's device_id: dhcp<node>-<network>). */
  private async ensureDhcpPort(n: ServedNetwork): Promise<void> {
    const deviceId = `dhcp${this.options.nodeId}-${n.id}`;
    const [existing] = await this.db.query(`SELECT id FROM network.ports WHERE network_id = $1 AND device_owner = 'network:dhcp' AND device_id = $2`, [
      n.id,
      deviceId,
    ]);
    if (existing) return;
    const port = await this.ports.create(
      { projectId: n.project_id, isAdmin: true },
      { port: { network_id: n.id, project_id: n.project_id, device_owner: 'network:dhcp', device_id: deviceId, port_security_enabled: false } },
    );
    await this.db.query(`UPDATE network.ports SET binding_host_id = $2, status = 'ACTIVE' WHERE id = $1`, [port.id, this.options.nodeId]);
  }

  private async dhcpNetworks(networks: ServedNetwork[]): Promise<DesiredDhcpNetwork[]> {
    if (networks.length === 0) return [];
    const ids = networks.map((n) => n.id);
    const subnets: Array<{ id: string; network_id: string; cidr: string; gateway_ip: string | null; dns_nameservers: string[]; host_routes: Array<{ destination: string; nexthop: string }>; enable_dhcp: boolean }> =
      await this.db.query(
        `SELECT id, network_id, cidr::text AS cidr, host(gateway_ip) AS gateway_ip, dns_nameservers, host_routes, enable_dhcp
           FROM network.subnets WHERE network_id = ANY($1::uuid[]) AND ip_version = 4 ORDER BY id`,
        [ids],
      );
    const ports: Array<{ id: string; network_id: string; mac_address: string; device_owner: string; ips: string[] }> = await this.db.query(
      `SELECT p.id, p.network_id, p.mac_address, p.device_owner,
              coalesce((SELECT array_agg(host(a.ip_address) ORDER BY a.ip_address) FROM network.ip_allocations a WHERE a.port_id = p.id), '{}') AS ips
         FROM network.ports p WHERE p.network_id = ANY($1::uuid[]) ORDER BY p.id`,
      [ids],
    );
    return networks.flatMap((n): DesiredDhcpNetwork[] => {
      const own = ports.filter((p) => p.network_id === n.id);
      const dhcpPort = own.find((p) => p.device_owner === 'network:dhcp');
      if (!dhcpPort || dhcpPort.ips.length === 0) return [];
      return [
        {
          networkId: n.id,
          mtu: n.mtu,
          bridge: bridgeName(n.id),
          bridgeNetns: this.options.netns,
          dhcpPort: { id: dhcpPort.id, mac: dhcpPort.mac_address, ipAddresses: dhcpPort.ips },
          subnets: subnets
            .filter((s) => s.network_id === n.id)
            .map((s) => ({ id: s.id, cidr: s.cidr, gatewayIp: s.gateway_ip, dnsNameservers: s.dns_nameservers, hostRoutes: s.host_routes, enableDhcp: s.enable_dhcp })),
          leases: own
            .filter((p) => p.device_owner !== 'network:dhcp')
            .flatMap((p) => p.ips.map((ipAddress) => ({ portId: p.id, mac: p.mac_address, ipAddress }))),
        },
      ];
    });
  }
}
