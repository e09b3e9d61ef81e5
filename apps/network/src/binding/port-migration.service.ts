/**
 * The network's part of a live migration (NetworkMigrationOps). prepare records that the
 * server's ports are also plumbed on the destination (network.port_migrations: host-network-state
 * gives the destination their taps and rules, and every host on their networks, the network node
 * included, the destination as a VXLAN peer) while they stay bound to the source; commit moves
 * binding_host_id to the destination and drops the rows in one transaction; abort drops the rows.
 * Each answers the number of the server's ports once the destination has been pushed (strictly:
 * a failed push fails the call, and a retry pushes again); the source, the other hosts and the
 * node follow before the answer, their failures only logged (a later push repairs them).
 * Every call is idempotent; abort after commit changes nothing.
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { PortMigrationRequest, ValidationError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { isUuid } from '../common/neutron-query';
import { HostSync } from './host-sync';
import { HOST_SYNC, NETWORK_NODE, NodeSync } from './port-binding.service';

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

interface ServerPort {
  id: string;
  network_id: string;
  binding_host_id: string;
  /** The destination of a prepared migration, if any. */
  destination: string | null;
}

const SERVER_PORTS_SQL = `SELECT p.id, p.network_id, p.binding_host_id, m.destination_host_id AS destination
    FROM network.ports p LEFT JOIN network.port_migrations m ON m.port_id = p.id
   WHERE p.device_id = $1 ORDER BY p.id`;

@Injectable()
export class PortMigrationService {
  private readonly logger = new Logger(PortMigrationService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(HOST_SYNC) private readonly hosts: HostSync,
    @Optional() @Inject(NETWORK_NODE) private readonly node: NodeSync | null = null,
  ) {}

  async prepare(req: PortMigrationRequest, requestId?: string): Promise<{ ports: number }> {
    const { serverId, destination } = checked(req);
    const ports: ServerPort[] = await this.db.query(SERVER_PORTS_SQL, [serverId]);
    if (ports.length === 0) return { ports: 0 };
    await this.db.query(
      `INSERT INTO network.port_migrations (port_id, destination_host_id)
       SELECT id, $2 FROM network.ports WHERE device_id = $1 AND binding_host_id <> $2
       ON CONFLICT (port_id) DO UPDATE SET destination_host_id = EXCLUDED.destination_host_id, created_at = now()
        WHERE network.port_migrations.destination_host_id <> EXCLUDED.destination_host_id`,
      [serverId, destination],
    );
    // An earlier prepare towards another host (never aborted) loses its copy there.
    const dropped = ports.map((p) => p.destination).filter((d): d is string => !!d && d !== destination);
    await this.converge(ports, destination, dropped, requestId);
    this.logger.log(`server ${serverId}: ${ports.length} port(s) prepared on ${destination} requestId=${requestId}`);
    return { ports: ports.length };
  }

  async commit(req: PortMigrationRequest, requestId?: string): Promise<{ ports: number }> {
    const { serverId, destination } = checked(req);
    const ports = await this.db.transaction(async (m) => {
      const rows: ServerPort[] = await m.query(`${SERVER_PORTS_SQL} FOR UPDATE OF p`, [serverId]);
      if (rows.length === 0) return rows;
      await m.query(`UPDATE network.ports SET binding_host_id = $2, updated_at = now() WHERE device_id = $1 AND binding_host_id <> $2`, [
        serverId,
        destination,
      ]);
      await m.query(`DELETE FROM network.port_migrations WHERE port_id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
      return rows;
    });
    if (ports.length === 0) return { ports: 0 };
    // The source's taps go; so does the copy of a prepare towards another host.
    const left = ports.flatMap((p) => [p.binding_host_id, p.destination ?? '']).filter((h) => h !== '' && h !== destination);
    await this.converge(ports, destination, left, requestId);
    this.logger.log(`server ${serverId}: ${ports.length} port(s) bound to ${destination} (from ${[...new Set(left)].join(', ') || 'there already'}) requestId=${requestId}`);
    return { ports: ports.length };
  }

  async abort(req: PortMigrationRequest, requestId?: string): Promise<{ ports: number }> {
    const { serverId, destination } = checked(req);
    const ports: ServerPort[] = await this.db.query(SERVER_PORTS_SQL, [serverId]);
    if (ports.length === 0) return { ports: 0 };
    // Committed (or never moving): the ports live on the destination; nothing to undo.
    if (ports.every((p) => p.binding_host_id === destination && !p.destination)) return { ports: ports.length };
    const deleted: Array<{ host: string }> = await this.db.query(
      `WITH d AS (DELETE FROM network.port_migrations m USING network.ports p WHERE p.id = m.port_id AND p.device_id = $1
                  RETURNING m.destination_host_id AS host)
       SELECT DISTINCT host FROM d`,
      [serverId],
    );
    // The destination is pushed even when a first try already deleted the rows: a retry repairs a failed push.
    await this.converge(ports, destination, deleted.map((d) => d.host).filter((h) => h !== destination), requestId);
    this.logger.log(`server ${serverId}: migration to ${destination} aborted, ${ports.length} port(s) stay on the source requestId=${requestId}`);
    return { ports: ports.length };
  }

  /** The destination strictly and the node beside it, then the other hosts concerned and the networks' peers. */
  private async converge(ports: ServerPort[], destination: string, extra: string[], requestId?: string): Promise<void> {
    await Promise.all([
      this.hosts.push(destination, requestId),
      this.node?.sync().catch((error: Error) => this.logger.warn(`network node sync during a migration failed: ${error.message}`)),
    ]);
    const networks = [...new Set(ports.map((p) => p.network_id))];
    await this.hosts.pushAll([...extra, ...(await this.peerHosts(networks, destination))], requestId);
  }

  /** Compute hosts other than `except` with server ports on these networks, bound or being migrated there (their VXLAN peers change). */
  private async peerHosts(networkIds: string[], except: string): Promise<string[]> {
    const rows: Array<{ host: string }> = await this.db.query(
      `SELECT host FROM (
         SELECT p.binding_host_id AS host FROM network.ports p
          WHERE p.network_id = ANY($1::uuid[]) AND p.device_id <> '' AND p.device_owner LIKE 'compute:%'
         UNION
         SELECT m.destination_host_id FROM network.port_migrations m JOIN network.ports p ON p.id = m.port_id
          WHERE p.network_id = ANY($1::uuid[]) AND p.device_id <> '' AND p.device_owner LIKE 'compute:%') h
        WHERE host NOT IN ('', $2)`,
      [networkIds, except],
    );
    return rows.map((r) => r.host);
  }
}

function checked(req: PortMigrationRequest): { serverId: string; destination: string } {
  if (!isUuid(req?.serverId)) throw new ValidationError('serverId must be a UUID', 'serverId');
  if (typeof req.destinationHostId !== 'string' || !HOST_ID.test(req.destinationHostId)) {
    throw new ValidationError('destinationHostId is not a host id', 'destinationHostId');
  }
  return { serverId: req.serverId, destination: req.destinationHostId };
}
