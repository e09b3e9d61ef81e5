/**
 * One port at a time on a server that exists (Nova's os-interface, InterfaceBindingOps): attach
 * binds the port to the server's host after its other ports (binding slot max + 1) and answers
 * once that host's taps and rules include it; detach unbinds it (deletes it when a binding or an
 * attach by network made it) and pushes the hosts again, which removes its tap. Both are
 * idempotent: a retried attach finds the port bound already, a retried detach finds it gone.
 */
import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { AttachPortRequest, BoundPort, DetachPortRequest, InterfaceBindingOps, ValidationError, subjects } from '@nubo/contracts';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { NOT_FOUND, conflict } from '../common/neutron-errors';
import { isUuid } from '../common/neutron-query';
import { HostSync } from './host-sync';
import { HOST_SYNC, NETWORK_NODE, NodeSync } from './port-binding.service';

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

@Injectable()
export class InterfaceBindingService implements OnModuleInit {
  private readonly logger = new Logger(InterfaceBindingService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(HOST_SYNC) private readonly hosts: HostSync,
    @Optional() @Inject(NETWORK_NODE) private readonly node: NodeSync | null = null,
  ) {}

  onModuleInit(): void {
    const on = (op: string) => subjects.service('network', op);
    this.rpc.handle(on(InterfaceBindingOps.attachPort.op), InterfaceBindingOps.attachPort, async (req, ctx) => ({
      port: await this.attach(req, ctx.requestId),
    }));
    this.rpc.handle(on(InterfaceBindingOps.detachPort.op), InterfaceBindingOps.detachPort, (req, ctx) => this.detach(req, ctx.requestId));
  }

  async attach(req: AttachPortRequest, requestId?: string): Promise<BoundPort> {
    if (!isUuid(req?.serverId)) throw new ValidationError('serverId must be a UUID', 'serverId');
    if (typeof req.projectId !== 'string' || req.projectId === '') throw new ValidationError('projectId is required', 'projectId');
    if (typeof req.hostId !== 'string' || !HOST_ID.test(req.hostId)) throw new ValidationError('hostId is not a host id', 'hostId');
    if (!isUuid(req.portId)) throw NOT_FOUND.port(String(req.portId));
    const before = await this.db.transaction(async (m) => {
      const [port]: Array<{ project_id: string; device_id: string; binding_host_id: string }> = await m.query(
        `SELECT project_id, device_id, binding_host_id FROM network.ports WHERE id = $1 FOR UPDATE`,
        [req.portId],
      );
      if (!port || port.project_id !== req.projectId) throw NOT_FOUND.port(req.portId);
      if (port.device_id !== '' && port.device_id !== req.serverId) throw conflict('PortInUse', `Port ${req.portId} is still in use.`);
      // The server's ports are locked by the port's row lock order: slots are computed under it.
      await m.query(
        `UPDATE network.ports p SET device_id = $2, device_owner = 'compute:nova', binding_host_id = $3,
                created_by_binding = p.created_by_binding OR $4,
                binding_slot = coalesce(p.binding_slot, (SELECT coalesce(max(o.binding_slot), -1) + 1 FROM network.ports o WHERE o.device_id = $2)),
                updated_at = now()
          WHERE p.id = $1`,
        [req.portId, req.serverId, req.hostId, req.autoCreated === true],
      );
      return port;
    });
    // As a bind: the network node first (DHCP for the new network), then the host, which answers once its tap and rules exist.
    await this.node?.sync();
    await this.hosts.push(req.hostId, requestId);
    await this.db.query(`UPDATE network.ports SET status = 'ACTIVE', updated_at = now() WHERE id = $1`, [req.portId]);
    const port = await this.view(req.portId);
    const others = await this.peerHosts([port.networkId], req.hostId);
    if (before.binding_host_id && before.binding_host_id !== req.hostId) others.push(before.binding_host_id);
    await this.hosts.pushAll(others, requestId);
    this.logger.log(`port ${req.portId} attached to server ${req.serverId} on ${req.hostId} requestId=${requestId}`);
    return port;
  }

  async detach(req: DetachPortRequest, requestId?: string): Promise<{ detached: boolean; deleted: boolean }> {
    if (!isUuid(req?.serverId)) throw new ValidationError('serverId must be a UUID', 'serverId');
    if (!isUuid(req.portId)) throw NOT_FOUND.port(String(req.portId));
    const [port]: Array<{ device_id: string; binding_host_id: string; network_id: string; created_by_binding: boolean }> = await this.db.query(
      `SELECT device_id, binding_host_id, network_id, created_by_binding FROM network.ports WHERE id = $1`,
      [req.portId],
    );
    if (!port) return { detached: false, deleted: false };
    const ours = port.device_id === req.serverId;
    // A port made for an attach that failed before it was bound is deleted while it is still free.
    const remove = (ours && port.created_by_binding) || (req.deletePort === true && (ours || port.device_id === ''));
    if (!ours && !remove) return { detached: false, deleted: false };
    if (remove) {
      await this.db.query(`DELETE FROM network.ports WHERE id = $1 AND device_id IN ($2, '')`, [req.portId, req.serverId]);
    } else {
      await this.db.query(
        `UPDATE network.ports SET device_id = '', device_owner = '', binding_host_id = '', binding_slot = NULL, status = 'DOWN', updated_at = now()
          WHERE id = $1 AND device_id = $2`,
        [req.portId, req.serverId],
      );
    }
    const hosts = [port.binding_host_id, ...(await this.peerHosts([port.network_id], ''))].filter(Boolean);
    await this.hosts.pushAll(hosts, requestId);
    await this.node?.sync().catch((error: Error) => this.logger.warn(`network node sync after a detach failed: ${error.message}`));
    this.logger.log(`port ${req.portId} detached from server ${req.serverId}${remove ? ' and deleted' : ''} requestId=${requestId}`);
    return { detached: ours, deleted: remove };
  }

  private async view(portId: string): Promise<BoundPort> {
    const [r]: Array<{ id: string; network_id: string; mac_address: string; mtu: number; fixed_ips: string[]; created_by_binding: boolean }> =
      await this.db.query(
        `SELECT p.id, p.network_id, p.mac_address, n.mtu, p.created_by_binding,
                coalesce((SELECT array_agg(host(a.ip_address) ORDER BY a.ip_address) FROM network.ip_allocations a WHERE a.port_id = p.id), '{}') AS fixed_ips
           FROM network.ports p JOIN network.networks n ON n.id = p.network_id WHERE p.id = $1`,
        [portId],
      );
    if (!r) throw NOT_FOUND.port(portId);
    return { portId: r.id, networkId: r.network_id, mac: r.mac_address, mtu: r.mtu, fixedIps: r.fixed_ips, autoCreated: r.created_by_binding };
  }

  /** Hosts other than `except` with server ports on these networks (their VXLAN peers change). */
  private async peerHosts(networkIds: string[], except: string): Promise<string[]> {
    const rows: Array<{ host: string }> = await this.db.query(
      `SELECT DISTINCT binding_host_id AS host FROM network.ports
        WHERE network_id = ANY($1::uuid[]) AND binding_host_id NOT IN ('', $2) AND device_id <> '' AND device_owner <> 'network:dhcp'`,
      [networkIds, except],
    );
    return rows.map((r) => r.host);
  }
}
