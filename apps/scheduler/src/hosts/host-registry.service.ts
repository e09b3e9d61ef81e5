/**
 * Hosts register themselves by heartbeat: the first one creates the host row, every later one
 * refreshes its capacity and liveness and reconciles the power state of its servers (through
 * PowerSyncService, as do the server.state events). A host silent past NUBO_HOST_DOWN_AFTER_MS is
 * marked down (fencing and evacuation come with issue #9).
 */
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HeartbeatEvent, HostHeartbeat, HostState, ServerStateChanged, subjects } from '@nubo/contracts';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { AgentTraits } from './agent-traits';
import { PowerSyncService } from './power-sync.service';

@Injectable()
export class HostRegistryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(HostRegistryService.name);
  private livenessTimer?: NodeJS.Timeout;
  private agentTraits?: AgentTraits;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    @Inject(PowerSyncService) private readonly power: PowerSyncService,
  ) {}

  onModuleInit(): void {
    this.rpc.onEvent(subjects.anyHeartbeat, HostHeartbeat, (hb) => this.onHeartbeat(hb));
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
      `INSERT INTO compute.hosts AS h (id, state, accelerator, vcpus, ram_mb, disk_gb, underlay_ip, last_heartbeat_at, agent_started_at, ksm)
       VALUES ($1, 'up', $2, $3, $4, $5, $6, now(), $7, $8::jsonb)
       ON CONFLICT (id) DO UPDATE SET accelerator = $2, vcpus = $3, ram_mb = $4, disk_gb = $5, underlay_ip = $6,
         last_heartbeat_at = now(), agent_started_at = $7, ksm = $8::jsonb,
         state = CASE WHEN h.state = 'down' THEN 'up' ELSE h.state END
       RETURNING h.state, (SELECT state FROM compute.hosts WHERE id = $1) AS previous`,
      [hb.hostId, hb.accelerator, hb.capacity.vcpus, hb.capacity.ramMb, hb.capacity.diskGb, hb.underlayIp, hb.agentStartedAt, hb.capacity.ksm ?? null],
    );
    if (row.previous !== row.state) this.logger.log(`host ${hb.hostId} is ${row.state} (was ${row.previous ?? 'unknown'})`);
    await (this.agentTraits ??= new AgentTraits(this.db)).sync(hb.hostId, hb.traits).then(
      (changed) => changed && this.logger.log(`host ${hb.hostId} reports traits ${hb.traits!.join(' ')}`),
      (error: Error) => this.logger.warn(`host ${hb.hostId}: traits not stored: ${error.message}`),
    );
    await this.power.syncHost(hb.hostId, hb.instances);
  }

  private async markSilentHostsDown(): Promise<void> {
    try {
      const rows: Array<{ id: string }> = await this.db.query(
        `UPDATE compute.hosts SET state = 'down'
          WHERE state = 'up' AND last_heartbeat_at < now() - ($1 || ' milliseconds')::interval RETURNING id`,
        [String(this.config.NUBO_HOST_DOWN_AFTER_MS)],
      );
      for (const { id } of Array.isArray(rows[0]) ? (rows[0] as Array<{ id: string }>) : rows) {
        this.logger.warn(`host ${id} missed its heartbeats: down`);
      }
    } catch (error) {
      this.logger.warn(`liveness check failed: ${(error as Error).message}`);
    }
  }
}
