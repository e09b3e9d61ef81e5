/**
 * network.binding.* (the compute side's ports) and the agents' heartbeats: an agent's underlay
 * address is kept (VXLAN peers of the others), and an agent that restarted with ports bound to
 * its host is pushed its whole data plane again (the rebuild from the control plane).
 */
import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { HeartbeatEvent, HostHeartbeat, NetworkBindingOps, NetworkMigrationOps, subjects } from '@nubo/contracts';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { HostSync } from './host-sync';
import { HOST_SYNC, PortBindingService } from './port-binding.service';
import { PortMigrationService } from './port-migration.service';

@Injectable()
export class BindingHandlers implements OnModuleInit {
  private readonly logger = new Logger(BindingHandlers.name);
  /** What this process last wrote per host, so a steady heartbeat costs a comparison. */
  private readonly known = new Map<string, string>();

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(PortBindingService) private readonly bindings: PortBindingService,
    @Inject(HOST_SYNC) private readonly hosts: HostSync,
    @Optional() @Inject(PortMigrationService) private readonly migrations: PortMigrationService | null = null,
  ) {}

  onModuleInit(): void {
    const on = (op: string) => subjects.service('network', op);
    this.rpc.handle(on(NetworkBindingOps.bind.op), NetworkBindingOps.bind, async (req, ctx) => ({ ports: await this.bindings.bind(req, ctx.requestId) }));
    this.rpc.handle(on(NetworkBindingOps.unbind.op), NetworkBindingOps.unbind, async (req, ctx) => ({
      ports: await this.bindings.unbind(req?.serverId, ctx.requestId),
    }));
    this.rpc.handle(on(NetworkBindingOps.addresses.op), NetworkBindingOps.addresses, async (req) => ({
      servers: await this.bindings.addresses(Array.isArray(req?.serverIds) ? req.serverIds : []),
    }));
    const migrations = this.migrations;
    if (migrations) {
      this.rpc.handle(on(NetworkMigrationOps.prepare.op), NetworkMigrationOps.prepare, (req, ctx) => migrations.prepare(req, ctx.requestId));
      this.rpc.handle(on(NetworkMigrationOps.commit.op), NetworkMigrationOps.commit, (req, ctx) => migrations.commit(req, ctx.requestId));
      this.rpc.handle(on(NetworkMigrationOps.abort.op), NetworkMigrationOps.abort, (req, ctx) => migrations.abort(req, ctx.requestId));
    }
    this.rpc.onEvent(subjects.anyHeartbeat, HostHeartbeat, (hb) => this.onHeartbeat(hb));
  }

  async onHeartbeat(hb: HeartbeatEvent): Promise<void> {
    const key = `${hb.underlayIp ?? ''} ${hb.agentStartedAt}`;
    if (this.known.get(hb.hostId) === key) return;
    const [row]: Array<{ restarted: boolean; moved: boolean }> = await this.db.query(
      `WITH before AS (SELECT agent_started_at, host(underlay_ip) AS underlay FROM network.agent_hosts WHERE host_id = $1),
            upsert AS (INSERT INTO network.agent_hosts (host_id, underlay_ip, agent_started_at) VALUES ($1, $2::inet, $3)
                       ON CONFLICT (host_id) DO UPDATE SET underlay_ip = EXCLUDED.underlay_ip, agent_started_at = EXCLUDED.agent_started_at, updated_at = now())
       SELECT coalesce((SELECT agent_started_at FROM before), '') <> $3 AS restarted,
              coalesce((SELECT underlay FROM before), '') <> coalesce(host($2::inet), '') AS moved`,
      [hb.hostId, hb.underlayIp, hb.agentStartedAt],
    );
    this.known.set(hb.hostId, key);
    if (!row.restarted && !row.moved) return;
    // A live migration's destination counts (network.port_migrations): its copy of the ports is rebuilt too.
    const [bound] = await this.db.query(
      `SELECT 1 FROM network.ports WHERE device_id <> ''
          AND (binding_host_id = $1 OR id IN (SELECT port_id FROM network.port_migrations WHERE destination_host_id = $1)) LIMIT 1`,
      [hb.hostId],
    );
    if (!bound) return;
    this.logger.log(`host ${hb.hostId} ${row.restarted ? 'restarted its agent' : 'moved its underlay address'}: pushing its data plane`);
    await this.hosts.pushAll([hb.hostId]);
  }
}
