/** Nubo's own API (/nubo/v1): what OpenStack has no call for. */
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { AgentOps, ConflictError, ForbiddenError, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { ServersService } from '../compute/servers.service';
import { ksmView } from './memory-views';

@Controller('nubo/v1')
export class NuboController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  /** Hosts with their inventory, what is allocated, and what is free (admins). */
  @Get('hosts')
  async hosts(@Auth() auth: AuthContext): Promise<unknown> {
    if (!auth.isAdmin) throw new ForbiddenError('Policy does not allow nubo:hosts:list to be performed.');
    const rows: Array<Record<string, any>> = await this.db.query(
      `SELECT h.id, h.state, h.accelerator, h.vcpus, h.ram_mb, h.disk_gb, h.ram_allocation_ratio, h.cpu_allocation_ratio,
              h.disk_allocation_ratio, h.reserved_vcpus, h.reserved_ram_mb, h.reserved_disk_gb, h.underlay_ip, h.last_heartbeat_at, h.agent_started_at, h.ksm,
              COALESCE(SUM(a.vcpus), 0)::int AS used_vcpus, COALESCE(SUM(a.ram_mb), 0)::int AS used_ram_mb,
              COALESCE(SUM(a.disk_gb), 0)::int AS used_disk_gb, COUNT(a.consumer_id)::int AS allocations
         FROM compute.hosts h LEFT JOIN compute.allocations a ON a.host_id = h.id GROUP BY h.id ORDER BY h.id`,
    );
    return {
      hosts: rows.map((h) => ({
        id: h.id,
        state: h.state,
        accelerator: h.accelerator,
        underlay_ip: h.underlay_ip,
        last_heartbeat_at: h.last_heartbeat_at,
        agent_started_at: h.agent_started_at,
        allocations: h.allocations,
        inventory: { vcpus: h.vcpus, ram_mb: h.ram_mb, disk_gb: h.disk_gb },
        reserved: { vcpus: h.reserved_vcpus, ram_mb: h.reserved_ram_mb, disk_gb: h.reserved_disk_gb },
        allocation_ratio: { vcpus: h.cpu_allocation_ratio, ram_mb: h.ram_allocation_ratio, disk_gb: h.disk_allocation_ratio },
        used: { vcpus: h.used_vcpus, ram_mb: h.used_ram_mb, disk_gb: h.used_disk_gb },
        // The claim's rule (scheduler capacity.ts): floor((total - reserved) x ratio) - used.
        free: {
          vcpus: Math.floor((h.vcpus - h.reserved_vcpus) * h.cpu_allocation_ratio) - h.used_vcpus,
          ram_mb: Math.floor((h.ram_mb - h.reserved_ram_mb) * h.ram_allocation_ratio) - h.used_ram_mb,
          disk_gb: Math.floor((h.disk_gb - h.reserved_disk_gb) * h.disk_allocation_ratio) - h.used_disk_gb,
        },
        ksm: ksmView(h.ksm),
      })),
    };
  }

  /** Live state straight from the host: the agent asks QEMU (QMP query-status). */
  @Get('servers/:id/status')
  async serverStatus(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    const server = await this.servers.get(id, auth);
    if (!server.hostId) throw new ConflictError(`Instance ${id} is not on a host yet.`);
    const op = AgentOps.status;
    const status = await this.rpc.call(
      subjects.agent(server.hostId, op.op),
      op,
      { serverId: server.id, opId: requestId, deadline: Date.now() + op.timeoutMs },
      { requestId },
    );
    return {
      status: {
        server_id: server.id,
        host: auth.isAdmin ? server.hostId : undefined,
        power_state: status.powerState,
        qmp_status: status.qmpStatus ?? null,
        pid: auth.isAdmin ? status.pid : undefined,
      },
    };
  }
}
