/**
 * After a Neutron change that a data plane carries (a port's addresses, groups or pairs, a
 * security group or rule, a subnet's DHCP settings), the hosts with server ports are pushed their
 * state again and the network node is synced, before the API answers: a rule opened or closed
 * holds on the hosts when the call returns. Every host with server ports is pushed (rules can
 * reach across hosts through remote groups); pushes are per host and coalesce.
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { HostSync } from './host-sync';
import { HOST_SYNC, NETWORK_NODE, NodeSync } from './port-binding.service';

const PUSH_HOSTS = new Set(['ports', 'security-groups', 'security-group-rules']);
const SYNC_NODE = new Set(['ports', 'subnets', 'networks']);

@Injectable()
export class DataplaneFollowUp {
  private readonly logger = new Logger(DataplaneFollowUp.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(HOST_SYNC) private readonly hosts: HostSync,
    @Optional() @Inject(NETWORK_NODE) private readonly node: NodeSync | null = null,
  ) {}

  async afterChange(collection: string, requestId?: string): Promise<void> {
    if (SYNC_NODE.has(collection)) {
      await this.node?.sync().catch((error: Error) => this.logger.warn(`network node sync after a ${collection} change failed: ${error.message}`));
    }
    if (!PUSH_HOSTS.has(collection)) return;
    const rows: Array<{ host: string }> = await this.db.query(
      // A live migration's destination too: its copy of the ports carries the same rules.
      `SELECT DISTINCT binding_host_id AS host FROM network.ports WHERE binding_host_id <> '' AND device_owner LIKE 'compute:%'
       UNION SELECT destination_host_id FROM network.port_migrations`,
    );
    await this.hosts.pushAll(
      rows.map((r) => r.host),
      requestId,
    );
  }
}
