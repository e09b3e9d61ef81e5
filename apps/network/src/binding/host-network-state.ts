/**
 * A host's whole desired tenant data plane (AgentNetworkOps.sync), read from the network schema:
 * the ports bound to it (with their addresses, pairs and the rules of their security groups,
 * remote groups expanded into their members' addresses), the networks of those ports, and per
 * network the underlay addresses of the other hosts with ports on it (VXLAN peers). A port being
 * live-migrated (network.port_migrations) is on its destination as well, for its ports and peers.
 */
import { HostNetworkState, NetworkPlan, PortPlan, RulePlan } from '@nubo/contracts';

type Db = { query(sql: string, params?: unknown[]): Promise<any> };

interface PortRow {
  id: string;
  network_id: string;
  mac_address: string;
  port_security_enabled: boolean;
  allowed_address_pairs: Array<{ ip_address: string; mac_address?: string | null }>;
  fixed_ips: string[];
  groups: string[];
}

interface NetworkRow {
  id: string;
  network_type: 'vxlan' | 'vlan' | 'flat';
  segmentation_id: number | null;
  mtu: number;
  physical_network: string | null;
  peers: string[];
}

interface RuleRow {
  security_group_id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  members: string[] | null;
}

export async function hostNetworkState(db: Db, hostId: string): Promise<HostNetworkState> {
  const ports: PortRow[] = await db.query(
    `SELECT p.id, p.network_id, p.mac_address, p.port_security_enabled, p.allowed_address_pairs,
            coalesce((SELECT array_agg(host(a.ip_address) ORDER BY a.ip_address) FROM network.ip_allocations a WHERE a.port_id = p.id), '{}') AS fixed_ips,
            coalesce((SELECT array_agg(g.security_group_id::text) FROM network.port_security_groups g WHERE g.port_id = p.id), '{}') AS groups
       FROM network.ports p
      WHERE (p.binding_host_id = $1 OR p.id = ANY(ARRAY(SELECT m.port_id FROM network.port_migrations m WHERE m.destination_host_id = $1)))
        AND p.device_id <> '' AND p.admin_state_up
      ORDER BY p.id`,
    [hostId],
  );
  if (ports.length === 0) return { networks: [], ports: [] };
  const networkIds = [...new Set(ports.map((p) => p.network_id))];
  const networks: NetworkRow[] = await db.query(
    `SELECT n.id, n.network_type, n.segmentation_id, n.mtu, n.physical_network,
            coalesce((SELECT array_agg(DISTINCT host(h.underlay_ip))
                        FROM network.ports o JOIN network.agent_hosts h ON h.host_id = o.binding_host_id
                             OR h.host_id IN (SELECT m.destination_host_id FROM network.port_migrations m WHERE m.port_id = o.id)
                       WHERE o.network_id = n.id AND h.host_id NOT IN ('', $2) AND o.device_id <> '' AND h.underlay_ip IS NOT NULL), '{}') AS peers
       FROM network.networks n WHERE n.id = ANY($1::uuid[]) ORDER BY n.id`,
    [networkIds, hostId],
  );
  const groupIds = [...new Set(ports.flatMap((p) => p.groups))];
  const rules: RuleRow[] = groupIds.length
    ? await db.query(
        `SELECT r.security_group_id, r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix, r.remote_group_id,
                CASE WHEN r.remote_group_id IS NULL THEN NULL ELSE
                  coalesce((SELECT array_agg(DISTINCT host(a.ip_address)) FROM network.port_security_groups m
                              JOIN network.ip_allocations a ON a.port_id = m.port_id WHERE m.security_group_id = r.remote_group_id), '{}') END AS members
           FROM network.security_group_rules r WHERE r.security_group_id = ANY($1::uuid[]) ORDER BY r.id`,
        [groupIds],
      )
    : [];
  return {
    networks: networks.map(networkPlan),
    ports: ports.map((p) => portPlan(p, rules)),
  };
}

function networkPlan(n: NetworkRow): NetworkPlan {
  return { id: n.id, type: n.network_type, segmentationId: n.segmentation_id, mtu: n.mtu, physicalNetwork: n.physical_network, peers: [...n.peers].sort() };
}

function portPlan(p: PortRow, rules: RuleRow[]): PortPlan {
  const groups = new Set(p.groups);
  return {
    id: p.id,
    networkId: p.network_id,
    mac: p.mac_address,
    fixedIps: p.fixed_ips,
    allowedAddressPairs: p.allowed_address_pairs.map((a) => ({ ipAddress: a.ip_address, macAddress: a.mac_address ?? null })),
    portSecurityEnabled: p.port_security_enabled,
    rules: rules.filter((r) => groups.has(r.security_group_id)).map(rulePlan),
  };
}

function rulePlan(r: RuleRow): RulePlan {
  return {
    direction: r.direction,
    ethertype: r.ethertype,
    protocol: r.protocol,
    portRangeMin: r.port_range_min,
    portRangeMax: r.port_range_max,
    remoteIpPrefix: r.remote_ip_prefix,
    remoteGroupPrefixes: r.remote_group_id ? [...(r.members ?? [])].sort() : null,
  };
}
