/**
 * Serves the failover plan (scheduler.failover-plan): loads every host as the placement sees it
 * (fresh), the HA servers (flavor extra spec or server metadata `nubo:ha=true`) with their
 * placement inputs and groups, and runs failover-plan.ts with this scheduler's pipeline.
 */
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { FailoverPlanOps, FailoverPlanReply, haOf, subjects } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { RpcServer } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';
import { PlacementInputBuilder } from '../workflows/placement-input';
import { HaServer, failoverPlan } from './failover-plan';

interface GroupRow {
  server_id: string;
  group_id: string;
  policy: NonNullable<HaServer['group']>['policy'];
  members: Array<{ serverId: string; hostId: string | null }>;
}

@Injectable()
export class FailoverPlanService implements OnModuleInit {
  private readonly logger = new Logger(FailoverPlanService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(PlacementInputBuilder) private readonly inputs: PlacementInputBuilder,
    @Inject(RpcServer) private readonly rpc: RpcServer,
  ) {}

  onModuleInit(): void {
    this.rpc.handle(subjects.service('scheduler', FailoverPlanOps.plan.op), FailoverPlanOps.plan, () => this.plan());
  }

  async plan(): Promise<FailoverPlanReply> {
    const started = Date.now();
    const [hosts, servers] = await Promise.all([this.placement.hosts.get({ fresh: true }), this.haServers()]);
    const plan = failoverPlan(hosts, servers, (world, request) => this.placement.dryRun(world, request));
    this.logger.debug(`failover plan: ${hosts.length} hosts, ${servers.length} HA servers in ${Date.now() - started} ms`);
    for (const h of plan) {
      for (const s of h.servers) if (!s.destination) this.logger.warn(`failover plan: HA server ${s.id} of ${h.host} would have nowhere to go: ${s.reason}`);
    }
    return { hosts: plan };
  }

  /** Every HA server on a host, with its placement input and group. */
  async haServers(): Promise<HaServer[]> {
    const rows = await this.db
      .getRepository(ServerEntity)
      .createQueryBuilder('s')
      .where('s.deleted_at IS NULL AND s.host_id IS NOT NULL')
      .getMany();
    const flavorSpecs = await this.flavorSpecs(rows);
    const ha = rows
      .map((server) => ({ server, ...haOf(server.flavor.extraSpecs ?? flavorSpecs.get(server.flavorId), server.metadata) }))
      .filter((r) => r.ha);
    const groups = await this.groups(ha.map((r) => r.server.id));
    const requestId = `req-${randomUUID()}`;
    return Promise.all(
      ha.map(async ({ server, priority }) => {
        const { input } = await this.inputs.build(server, requestId);
        const group = groups.get(server.id);
        return {
          hostId: server.hostId!,
          name: server.name,
          priority,
          // A recovery goes wherever the filters allow: the host forced at create was for the create.
          request: { ...input, serverId: server.id, forcedHost: null, excludedHosts: [] },
          ...(group ? { group: { id: group.group_id, policy: group.policy, members: group.members } } : {}),
        };
      }),
    );
  }

  private async flavorSpecs(servers: ServerEntity[]): Promise<Map<string, Record<string, string>>> {
    const ids = [...new Set(servers.filter((s) => !s.flavor.extraSpecs).map((s) => s.flavorId))];
    if (ids.length === 0) return new Map();
    const rows: Array<{ id: string; extra_specs: Record<string, string> | null }> = await this.db.query(
      `SELECT id, extra_specs FROM compute.flavors WHERE id = ANY($1)`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r.extra_specs ?? {}]));
  }

  private async groups(serverIds: string[]): Promise<Map<string, GroupRow>> {
    if (serverIds.length === 0) return new Map();
    const rows: GroupRow[] = await this.db.query(
      `SELECT m.server_id, g.id AS group_id, g.policy,
              (SELECT json_agg(json_build_object('serverId', s.id, 'hostId', s.host_id))
                 FROM compute.server_group_members m2 JOIN compute.servers s ON s.id = m2.server_id
                WHERE m2.group_id = g.id AND s.deleted_at IS NULL) AS members
         FROM compute.server_group_members m JOIN compute.server_groups g ON g.id = m.group_id
        WHERE m.server_id = ANY($1)`,
      [serverIds],
    );
    return new Map(rows.map((r) => [r.server_id, r]));
  }
}
