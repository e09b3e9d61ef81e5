/**
 * Hosts register themselves by heartbeat: the first one creates the host row, every later one
 * refreshes its capacity and liveness and reconciles the power state of its servers (through
 * PowerSyncService, as do the server.state events). A host silent past NUBO_HOST_DOWN_AFTER_MS is
 * marked down. Agents renew their lease here too (scheduler.host.lease.renew, host-leases.ts); a
 * down host comes back `up` on a heartbeat only while its lease is live (or it has none), so an
 * agent back from a fence never looks usable. Every state change is recorded with its reason
 * (compute.host_state_history, written by a trigger; the reason set in the same statement).
 */
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HeartbeatEvent, HostHeartbeat, HostLeaseOps, HostState, ServerStateChanged, subjects } from '@nubo/contracts';
import { HOST_STATE_REASON_CTE } from '@nubo/database';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { AgentTraits } from './agent-traits';
import { HostLeaseStore } from './host-leases';
import { PowerSyncService } from './power-sync.service';

@Injectable()
export class HostRegistryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(HostRegistryService.name);
  private livenessTimer?: NodeJS.Timeout;
  private agentTraits?: AgentTraits;
  readonly leases: HostLeaseStore;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    @Inject(PowerSyncService) private readonly power: PowerSyncService,
  ) {
    this.leases = new HostLeaseStore(db, { leaseMs: config.NUBO_HOST_LEASE_MS });
  }

  onModuleInit(): void {
    this.rpc.onEvent(subjects.anyHeartbeat, HostHeartbeat, (hb) => this.onHeartbeat(hb));
    this.rpc.handle(subjects.service('scheduler', HostLeaseOps.renew.op), HostLeaseOps.renew, (req) => this.leases.renew(req));
    // QMP events reach us at once through these; heartbeats catch whatever they miss.
    this.rpc.onEvent(subjects.anyServerState, ServerStateChanged, (e) =>
      this.power.observe(e.hostId, e.serverId, { powerState: e.powerState, lastExit: e.lastExit }),
    );
    this.livenessTimer = setInterval(() => void this.markSilentHostsDown(), 1_000);
  }

  onModuleDestroy(): void {
    clearInterval(this.livenessTimer);
  }

  async onHeartbeat(hb: HeartbeatEvent): Promise<void> {
    const [row]: Array<{ state: HostState; previous: HostState | null }> = await this.db.query(
      `WITH ${HOST_STATE_REASON_CTE('$9')}
       INSERT INTO compute.hosts AS h (id, state, accelerator, vcpus, ram_mb, disk_gb, underlay_ip, last_heartbeat_at, agent_started_at, ksm)
       VALUES ($1, (SELECT 'up' FROM host_state_reason), $2, $3, $4, $5, $6, now(), $7, $8::jsonb)
       ON CONFLICT (id) DO UPDATE SET accelerator = $2, vcpus = $3, ram_mb = $4, disk_gb = $5, underlay_ip = $6,
         last_heartbeat_at = now(), agent_started_at = $7, ksm = $8::jsonb,
         state = CASE WHEN h.state = 'down' AND NOT EXISTS (
             SELECT 1 FROM compute.host_leases l WHERE l.host_id = h.id AND (l.fenced_at IS NOT NULL OR l.expires_at <= now()))
           THEN 'up' ELSE h.state END
       RETURNING h.state, (SELECT state FROM compute.hosts WHERE id = $1) AS previous`,
      [hb.hostId, hb.accelerator, hb.capacity.vcpus, hb.capacity.ramMb, hb.capacity.diskGb, hb.underlayIp, hb.agentStartedAt, hb.capacity.ksm ?? null,
        `heartbeat from the agent started at ${hb.agentStartedAt}`],
    );
    if (row.previous !== row.state) this.logger.log(`host ${hb.hostId} is ${row.state} (was ${row.previous ?? 'unknown'})`);
    await (this.agentTraits ??= new AgentTraits(this.db)).sync(hb.hostId, hb.traits).then(
      (changed) => changed && this.logger.log(`host ${hb.hostId} reports traits ${hb.traits!.join(' ')}`),
      (error: Error) => this.logger.warn(`host ${hb.hostId}: traits not stored: ${error.message}`),
    );
    await this.power.syncHost(hb.hostId, hb.instances);
  }

  /** Runs every second on every scheduler (the conditional UPDATE records each change once). */
  async markSilentHostsDown(): Promise<void> {
    try {
      const rows: Array<{ id: string }> = await this.db.query(
        `WITH ${HOST_STATE_REASON_CTE('$2')}
         UPDATE compute.hosts SET state = 'down' FROM host_state_reason
          WHERE state = 'up' AND last_heartbeat_at < now() - ($1 || ' milliseconds')::interval RETURNING id`,
        [String(this.config.NUBO_HOST_DOWN_AFTER_MS), `no heartbeat for more than ${this.config.NUBO_HOST_DOWN_AFTER_MS} ms`],
      );
      for (const { id } of Array.isArray(rows[0]) ? (rows[0] as Array<{ id: string }>) : rows) {
        this.logger.warn(`host ${id} missed its heartbeats: down`);
      }
    } catch (error) {
      this.logger.warn(`liveness check failed: ${(error as Error).message}`);
    }
  }
}
