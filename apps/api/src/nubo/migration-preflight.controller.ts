/**
 * GET /nubo/v1/servers/{id}/migration-preflight[?host=H&seconds=N] (admins): would a live migration
 * of this server converge now? The source agent measures the guest's dirty rate (QMP
 * calc-dirty-rate over N seconds, default 2); the bandwidth is the configured link speed
 * (NUBO_MIGRATION_LINK_MIBS, default 10 Gbit/s) capped by the migration's bandwidth limit; the
 * downtime limit is the flavor's `hw:live_migration_downtime` or NUBO_LIVE_MIGRATION_DOWNTIME_MS,
 * as the scheduler uses them. The model is in migration-preflight.ts.
 */
import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { AgentMigrationOps, ConflictError, VmState, ValidationError, subjects } from '@nubo/contracts';
import { env, loadConfig } from '@nubo/config';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { requireAdmin } from '../compute/shared/nova-policy';
import { ServersService } from '../compute/servers.service';
import { downtimeLimitOf, parsePreflightSeconds, predictPrecopy } from './migration-preflight';

export const preflightSchema = {
  /** The underlay link's speed (MiB/s) the model assumes: 1192 = 10 Gbit/s. */
  NUBO_MIGRATION_LINK_MIBS: env.int({ default: 1192, min: 1 }),
  /** The scheduler's settings of the same names (the same environment in a Nubo deployment). */
  NUBO_LIVE_MIGRATION_DOWNTIME_MS: env.int({ default: 300, min: 10, max: 60_000 }),
  NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS: env.int({ default: 10_240, min: 1 }),
};

const DEFAULT_SECONDS = 2;

@Controller('nubo/v1/servers/:id/migration-preflight')
export class MigrationPreflightController {
  private readonly config = loadConfig(preflightSchema);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  @Get()
  async preflight(
    @Param('id') id: string,
    @Query('host') host: string | undefined,
    @Query('seconds') secondsRaw: string | undefined,
    @Auth() auth: AuthContext,
    @RequestId() requestId: string,
  ): Promise<unknown> {
    requireAdmin(auth, 'nubo:servers:migration-preflight');
    const seconds = parsePreflightSeconds(secondsRaw, DEFAULT_SECONDS);
    if (host !== undefined && (typeof host !== 'string' || host === '')) throw new ValidationError('host must be a host name', 'host');
    const server = await this.servers.get(id, auth);
    if (!server.hostId || server.vmState !== VmState.Active) {
      throw new ConflictError(`Cannot measure instance ${server.id} while it is in vm_state ${server.vmState}: only an ACTIVE server on a host is measured.`);
    }
    if (host !== undefined) {
      const [found]: Array<{ id: string }> = await this.db.query(`SELECT id FROM compute.hosts WHERE id = $1`, [host]);
      if (!found) throw new ValidationError(`Compute host ${host} could not be found.`, 'host');
      if (host === server.hostId) throw new ValidationError(`Unable to migrate instance (${server.id}) to current host (${host}).`, 'host');
    }
    const [flavor]: Array<{ extra_specs: Record<string, string> | null }> = await this.db.query(`SELECT extra_specs FROM compute.flavors WHERE id = $1`, [server.flavorId]);
    const downtimeLimitMs = downtimeLimitOf(flavor?.extra_specs ?? {}, this.config.NUBO_LIVE_MIGRATION_DOWNTIME_MS);
    const bandwidthMibS = Math.min(this.config.NUBO_MIGRATION_LINK_MIBS, this.config.NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS);
    const op = AgentMigrationOps.dirtyRate;
    const request = { serverId: server.id, migrationId: `preflight-${randomUUID()}`, seconds, opId: `migration-preflight-${requestId}`, deadline: Date.now() + op.timeoutMs };
    const { dirtyRateMibPerSec } = await this.rpc.call(subjects.agent(server.hostId, op.op), op, request, { requestId });
    const ramMib = server.flavor.ramMb;
    const p = predictPrecopy({ ramMib, dirtyRateMibS: dirtyRateMibPerSec, bandwidthMibS, downtimeLimitMs });
    return {
      server_id: server.id,
      source_host: server.hostId,
      host: host ?? null,
      dirty_rate_mib_s: dirtyRateMibPerSec,
      measured_seconds: seconds,
      bandwidth_mib_s: bandwidthMibS,
      downtime_limit_ms: downtimeLimitMs,
      ram_mib: ramMib,
      predicted_total_ms: p.predictedTotalMs === null ? null : Math.round(p.predictedTotalMs),
      predicted_rounds: p.rounds,
      predicted_converges: p.predictedConverges,
      reason: p.reason,
    };
  }
}
