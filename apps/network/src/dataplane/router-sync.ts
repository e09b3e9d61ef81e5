/**
 * Neutron's L3 agent on the network node: reads routers, their interface and gateway ports and
 * floating IPs from the database and hands RouterDataplane the complete desired set. Runs on every
 * committed router or floating IP change (L3Changes) and every ROUTER_RESYNC_MS as a safety net;
 * calls while one runs collapse into one more. The veths join the networks' bridges in the node's
 * namespace, so the node must serve (make the bridges of) the networks that routers are on.
 */
import { Logger } from '@nestjs/common';
import { bridgeName } from '@nubo/netlinks';
import { DataSource } from 'typeorm';
import { NetworkConfig } from '../config';
import { L3Changes } from '../routers/l3-store';
import { HostSync } from '../binding/host-sync';
import { NetworkNode } from './network-node';
import { RouterDataplane, RouterSpec } from './router';
import { CoalescedRuns } from '../common/coalesced-runs';

const ROUTER_RESYNC_MS = 30_000;
export const ROUTER_SYNC = Symbol('ROUTER_SYNC');

interface PortRow {
  id: string;
  router_id: string;
  network_id: string;
  mac_address: string;
  mtu: number;
  /** `a.b.c.d/n`: the port's address with its subnet's prefix. */
  cidrs: string[];
  next_hop: string | null;
  device_owner: string;
}

export class RouterSync {
  private readonly runs = new CoalescedRuns(() => this.run());

  constructor(
    private readonly db: DataSource,
    private readonly dataplane: Pick<RouterDataplane, 'sync'>,
    private readonly options: { netns?: string },
  ) {}

  /** One spec per router that is up and has an interface or a gateway. */
  async desired(): Promise<RouterSpec[]> {
    const ports: PortRow[] = await this.db.query(
      `SELECT p.id, p.device_id AS router_id, p.network_id, p.mac_address, n.mtu, p.device_owner,
              coalesce(array_agg(host(a.ip_address) || '/' || masklen(s.cidr) ORDER BY a.ip_address) FILTER (WHERE s.ip_version = 4), '{}') AS cidrs,
              min(host(s.gateway_ip)) AS next_hop
         FROM network.ports p JOIN network.routers r ON r.id::text = p.device_id JOIN network.networks n ON n.id = p.network_id
         LEFT JOIN network.ip_allocations a ON a.port_id = p.id LEFT JOIN network.subnets s ON s.id = a.subnet_id
        WHERE p.device_owner IN ('network:router_interface', 'network:router_gateway') AND r.admin_state_up
        GROUP BY p.id, n.mtu ORDER BY p.created_at, p.id`,
    );
    const routers: Array<{ id: string; enable_snat: boolean }> = await this.db.query(
      `SELECT id, enable_snat FROM network.routers WHERE admin_state_up ORDER BY created_at, id`,
    );
    const fips: Array<{ router_id: string; floating: string; fixed: string }> = await this.db.query(
      `SELECT router_id, host(floating_ip_address) AS floating, host(fixed_ip_address) AS fixed
         FROM network.floating_ips WHERE router_id IS NOT NULL ORDER BY floating_ip_address`,
    );
    const attach = (networkId: string) => ({ bridge: bridgeName(networkId), ...(this.options.netns ? { bridgeNetns: this.options.netns } : {}) });
    return routers.flatMap((r): RouterSpec[] => {
      const own = ports.filter((p) => p.router_id === r.id);
      const isGateway = (p: PortRow) => p.device_owner === 'network:router_gateway';
      const interfaces = own
        .filter((p) => !isGateway(p) && p.cidrs.length)
        .map((p) => ({ portId: p.id, mac: p.mac_address, cidrs: p.cidrs, mtu: p.mtu, ...attach(p.network_id) }));
      const gw = own.find((p) => isGateway(p) && p.cidrs.length);
      if (!interfaces.length && !gw) return [];
      return [
        {
          routerId: r.id,
          interfaces,
          gateway: gw
            ? { portId: gw.id, mac: gw.mac_address, cidr: gw.cidrs[0], nextHop: gw.next_hop, enableSnat: r.enable_snat, mtu: gw.mtu, ...attach(gw.network_id) }
            : null,
          floatingIps: gw ? fips.filter((f) => f.router_id === r.id).map((f) => ({ floatingIp: f.floating, fixedIp: f.fixed })) : [],
        },
      ];
    });
  }

  sync(): Promise<void> {
    return this.runs.run();
  }

  /** RouterDataplane logs the routers it leaves invalid or failed; the next change or tick retries them. */
  private async run(): Promise<void> {
    await this.dataplane.sync(await this.desired());
  }
}

/** Runs beside the network node (none when this service runs no node), after the node's first sync. */
export function routerSyncFactory(config: NetworkConfig) {
  return async (db: DataSource, changes: L3Changes, node: NetworkNode | null, hosts: Pick<HostSync, 'pushAll'>): Promise<RouterSync | null> => {
    if (!node) return null;
    const logger = new Logger(RouterSync.name);
    // Namespaces are global on a machine: the cloud's name keeps two clouds' routers apart.
    const sync = new RouterSync(db, new RouterDataplane({ namespacePrefix: `${config.NUBO_CLOUD_NAME}-qrouter-` }), { netns: config.NUBO_NETWORK_NODE_NETNS });
    const kick = () => void sync.sync().catch((error: Error) => logger.warn(`router sync failed: ${error.message}`));
    // A change may put a router on a network the node does not serve yet: the node first (its bridges,
    // the router's ports bound to it), then the compute hosts (the node became, or stopped being,
    // their VXLAN peer on the router's networks), then the routers.
    const pushHosts = async () => {
      const rows: Array<{ host: string }> = await db.query(
        `SELECT DISTINCT binding_host_id AS host FROM network.ports WHERE binding_host_id <> '' AND device_owner LIKE 'compute:%'`,
      );
      await hosts.pushAll(rows.map((r) => r.host));
    };
    changes.subscribe(() =>
      void node
        .sync()
        .then(pushHosts)
        .catch((error: Error) => logger.warn(`network node sync after a router change failed: ${error.message}`))
        .finally(kick),
    );
    kick();
    setInterval(kick, ROUTER_RESYNC_MS).unref();
    return sync;
  };
}
