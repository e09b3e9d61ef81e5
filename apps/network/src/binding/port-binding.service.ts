/**
 * A server's ports (NetworkBindingOps): created for the networks it asked for (as the server's
 * project, so Neutron's visibility, quotas, IPAM and default security group apply), taken over
 * for the ports it named, bound to its host, and the host's data plane pushed before the answer.
 * Every step finds what an earlier try of the same bind did (ports by device_id and request slot),
 * so a retried bind creates nothing twice. The other hosts with ports on the same networks are
 * pushed after (their VXLAN peers changed), and so is a host the ports left.
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BindRequest, BoundPort, ServerAddress, ValidationError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { isUniqueViolation } from '../common/db';
import { NOT_FOUND, conflict } from '../common/neutron-errors';
import { isUuid } from '../common/neutron-query';
import { PortsService } from '../ports/ports.service';
import { HostSync } from './host-sync';

export const HOST_SYNC = Symbol('HOST_SYNC');
/** The network node (DHCP), when this network service runs one. */
export const NETWORK_NODE = Symbol('NETWORK_NODE');
export interface NodeSync {
  sync(): Promise<void>;
}

interface BoundRow {
  id: string;
  network_id: string;
  binding_slot: number | null;
  created_by_binding: boolean;
  binding_host_id: string;
}

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

@Injectable()
export class PortBindingService {
  private readonly logger = new Logger(PortBindingService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PortsService) private readonly ports: PortsService,
    @Inject(HOST_SYNC) private readonly hosts: HostSync,
    @Optional() @Inject(NETWORK_NODE) private readonly node: NodeSync | null = null,
  ) {}

  async bind(req: BindRequest, requestId?: string): Promise<BoundPort[]> {
    checkBind(req);
    const existing = await this.boundTo(req.serverId);
    const leaving = existing.filter((p) => p.binding_host_id && p.binding_host_id !== req.hostId).map((p) => p.binding_host_id);
    for (const [slot, wanted] of req.requested.entries()) {
      if (wanted.portId) await this.takePort(req, slot, wanted.portId);
      else await this.networkPort(req, slot, wanted.networkId!, wanted.fixedIp, existing, wanted.securityGroups);
    }
    // The answer waits for the network node and the host: the spawn that follows needs the DHCP
    // lease its guest will ask for, the taps and their rules. The node first: a network it starts
    // serving gets its DHCP port there, which makes the node the host's VXLAN peer.
    await this.node?.sync();
    await this.hosts.push(req.hostId, requestId);
    await this.db.query(`UPDATE network.ports SET status = 'ACTIVE', updated_at = now() WHERE device_id = $1`, [req.serverId]);
    const ports = await this.view(req.serverId);
    await this.hosts.pushAll([...leaving, ...(await this.peerHosts(ports.map((p) => p.networkId), req.hostId))], requestId);
    return ports;
  }

  /** Deletes the ports the bindings created, unbinds the others; pushes the hosts concerned. Idempotent. */
  async unbind(serverId: string, requestId?: string): Promise<number> {
    if (!isUuid(serverId)) throw new ValidationError('serverId must be a UUID', 'serverId');
    const ports = await this.boundTo(serverId);
    if (ports.length === 0) return 0;
    const networks = [...new Set(ports.map((p) => p.network_id))];
    const hosts = ports.map((p) => p.binding_host_id).filter(Boolean);
    await this.db.transaction(async (m) => {
      await m.query(`DELETE FROM network.ports WHERE device_id = $1 AND created_by_binding`, [serverId]);
      await m.query(
        `UPDATE network.ports SET device_id = '', device_owner = '', binding_host_id = '', binding_slot = NULL, status = 'DOWN', updated_at = now()
          WHERE device_id = $1`,
        [serverId],
      );
    });
    await this.hosts.pushAll([...hosts, ...(await this.peerHosts(networks, ''))], requestId);
    await this.node?.sync().catch((error: Error) => this.logger.warn(`network node sync after unbind failed: ${error.message}`));
    return ports.length;
  }

  async addresses(serverIds: string[]): Promise<Record<string, ServerAddress[]>> {
    const ids = serverIds.filter(isUuid);
    const rows: Array<{ device_id: string; network: string; addr: string; family: number; mac: string }> = ids.length
      ? await this.db.query(
          `SELECT p.device_id, n.name AS network, host(a.ip_address) AS addr, family(a.ip_address) AS family, p.mac_address AS mac
             FROM network.ports p JOIN network.networks n ON n.id = p.network_id JOIN network.ip_allocations a ON a.port_id = p.id
            WHERE p.device_id = ANY($1) ORDER BY p.device_id, p.binding_slot NULLS LAST, p.id, a.ip_address`,
          [ids],
        )
      : [];
    const out: Record<string, ServerAddress[]> = {};
    for (const r of rows) (out[r.device_id] ??= []).push({ network: r.network, addr: r.addr, version: r.family === 6 ? 6 : 4, mac: r.mac });
    return out;
  }

  /** A port the user named: theirs, and free or already this server's. */
  private async takePort(req: BindRequest, slot: number, portId: string): Promise<void> {
    if (!isUuid(portId)) throw NOT_FOUND.port(portId);
    await this.db.transaction(async (m) => {
      const [port]: Array<{ project_id: string; device_id: string }> = await m.query(
        `SELECT project_id, device_id FROM network.ports WHERE id = $1 FOR UPDATE`,
        [portId],
      );
      if (!port || port.project_id !== req.projectId) throw NOT_FOUND.port(portId);
      if (port.device_id !== '' && port.device_id !== req.serverId) throw conflict('PortInUse', `Port ${portId} is still in use.`);
      await m.query(
        `UPDATE network.ports SET device_id = $2, device_owner = 'compute:nova', binding_host_id = $3, binding_slot = $4, updated_at = now() WHERE id = $1`,
        [portId, req.serverId, req.hostId, slot],
      );
    });
  }

  /** The port of a requested network: the one an earlier try created for this slot, else a new one. */
  private async networkPort(
    req: BindRequest,
    slot: number,
    networkId: string,
    fixedIp: string | undefined,
    existing: BoundRow[],
    securityGroups?: string[],
  ): Promise<void> {
    const earlier = existing.find((p) => p.binding_slot === slot && p.created_by_binding);
    if (earlier) {
      await this.db.query(`UPDATE network.ports SET binding_host_id = $2, updated_at = now() WHERE id = $1`, [earlier.id, req.hostId]);
      return;
    }
    const port = await this.ports.create(
      { projectId: req.projectId, isAdmin: false },
      { port: { network_id: networkId, device_id: req.serverId, device_owner: 'compute:nova', ...(fixedIp ? { fixed_ips: [{ ip_address: fixedIp }] } : {}),
        // Nova's security_groups of the server (absent: Neutron gives the project's default group).
        ...(Array.isArray(securityGroups) ? { security_groups: securityGroups } : {}) } },
    );
    try {
      await this.db.query(
        `UPDATE network.ports SET created_by_binding = true, binding_slot = $2, binding_host_id = $3, updated_at = now() WHERE id = $1`,
        [port.id, slot, req.hostId],
      );
    } catch (error) {
      // A concurrent try of the same bind took the slot first: ours goes, theirs stays.
      await this.db.query(`DELETE FROM network.ports WHERE id = $1`, [port.id]);
      if (!isUniqueViolation(error, 'ports_binding_slot')) throw error;
      this.logger.warn(`bind of server ${req.serverId}: slot ${slot} was taken by a concurrent try`);
    }
  }

  private boundTo(serverId: string): Promise<BoundRow[]> {
    return this.db.query(
      `SELECT id, network_id, binding_slot, created_by_binding, binding_host_id FROM network.ports WHERE device_id = $1 ORDER BY binding_slot NULLS LAST, id`,
      [serverId],
    );
  }

  private async view(serverId: string): Promise<BoundPort[]> {
    const rows: Array<{ id: string; network_id: string; mac_address: string; mtu: number; fixed_ips: string[]; created_by_binding: boolean }> =
      await this.db.query(
        `SELECT p.id, p.network_id, p.mac_address, n.mtu, p.created_by_binding,
                coalesce((SELECT array_agg(host(a.ip_address) ORDER BY a.ip_address) FROM network.ip_allocations a WHERE a.port_id = p.id), '{}') AS fixed_ips
           FROM network.ports p JOIN network.networks n ON n.id = p.network_id
          WHERE p.device_id = $1 ORDER BY p.binding_slot NULLS LAST, p.id`,
        [serverId],
      );
    return rows.map((r) => ({ portId: r.id, networkId: r.network_id, mac: r.mac_address, mtu: r.mtu, fixedIps: r.fixed_ips, autoCreated: r.created_by_binding }));
  }

  /** Compute hosts other than `except` with server ports on these networks (their VXLAN peers change); not the network node. */
  private async peerHosts(networkIds: string[], except: string): Promise<string[]> {
    if (networkIds.length === 0) return [];
    const rows: Array<{ host: string }> = await this.db.query(
      `SELECT DISTINCT binding_host_id AS host FROM network.ports
        WHERE network_id = ANY($1::uuid[]) AND binding_host_id NOT IN ('', $2) AND device_id <> '' AND device_owner LIKE 'compute:%'`,
      [networkIds, except],
    );
    return rows.map((r) => r.host);
  }
}

function checkBind(req: BindRequest): void {
  if (!isUuid(req?.serverId)) throw new ValidationError('serverId must be a UUID', 'serverId');
  if (typeof req.projectId !== 'string' || req.projectId === '') throw new ValidationError('projectId is required', 'projectId');
  if (typeof req.hostId !== 'string' || !HOST_ID.test(req.hostId)) throw new ValidationError('hostId is not a host id', 'hostId');
  if (!Array.isArray(req.requested)) throw new ValidationError('requested must be an array', 'requested');
  req.requested.forEach((r, i) => {
    if (!!r?.portId === !!r?.networkId) throw new ValidationError(`requested[${i}] needs a networkId or a portId`, `requested[${i}]`);
  });
}
