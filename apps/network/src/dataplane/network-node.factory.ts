/**
 * The network node of this network service, when NUBO_NETWORK_NODE_UNDERLAY_IP says it runs one:
 * started (its underlay registered, a first sync) before the service serves, then synced again
 * every NODE_RESYNC_MS as a safety net for changes that do not go through a binding (a subnet's
 * DNS servers, a port's address).
 */
import { Logger } from '@nestjs/common';
import { HostLinks, parsePhysicalInterfaces } from '@nubo/netlinks';
import { isIP } from 'node:net';
import { DataSource } from 'typeorm';
import { NetworkConfig } from '../config';
import { PortsService } from '../ports/ports.service';
import { DhcpDataplane } from './dhcp';
import { NetworkNode } from './network-node';

const NODE_RESYNC_MS = 30_000;

export function networkNodeFactory(config: NetworkConfig) {
  return async (db: DataSource, ports: PortsService): Promise<NetworkNode | null> => {
    const underlayIp = config.NUBO_NETWORK_NODE_UNDERLAY_IP;
    if (!underlayIp) return null;
    if (!isIP(underlayIp)) throw new Error('NUBO_NETWORK_NODE_UNDERLAY_IP must be an IP address');
    const netns = config.NUBO_NETWORK_NODE_NETNS;
    if (netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) throw new Error('NUBO_NETWORK_NODE_NETNS must be a namespace name');
    const problems: string[] = [];
    const physicalInterfaces = parsePhysicalInterfaces(config.NUBO_NETWORK_NODE_PHYSICAL_INTERFACES, problems, 'NUBO_NETWORK_NODE_PHYSICAL_INTERFACES');
    if (problems.length) throw new Error(problems.join('; '));
    const node = new NetworkNode(
      db,
      ports,
      new HostLinks({ netns }),
      // Namespaces are global on a machine: the cloud's name keeps two clouds' DHCP apart.
      new DhcpDataplane({ stateDir: config.NUBO_NETWORK_STATE_DIR, namespacePrefix: `${config.NUBO_CLOUD_NAME}-qdhcp-` }),
      { nodeId: config.NUBO_NETWORK_NODE_ID, underlayIp, netns, physicalInterfaces },
    );
    await node.start();
    const logger = new Logger('NetworkNode');
    setInterval(() => void node.sync().catch((error: Error) => logger.warn(`network node sync failed: ${error.message}`)), NODE_RESYNC_MS).unref();
    return node;
  };
}
