/** The network service's RPC surface: Neutron's five core collections, the v1 list, health. */
import { Inject, Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { DataplaneFollowUp } from './binding/dataplane-follow-up';
import { HealthOps, NeutronCaller, NeutronOps, NeutronQuery, NeutronResource, NeutronRouterOps, NetworkOps, subjects } from '@nubo/contracts';
import { probe, runChecks } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { FloatingIpsService } from './floating-ips/floating-ips.service';
import { NetworksService } from './networks/networks.service';
import { PortsService } from './ports/ports.service';
import { RouterInterfacesService } from './routers/router-interfaces.service';
import { RoutersService } from './routers/routers.service';
import { SecurityGroupRulesService } from './security-groups/security-group-rules.service';
import { SecurityGroupsService } from './security-groups/security-groups.service';
import { SubnetsService } from './subnets/subnets.service';

/** What each collection's service offers; rules have no update (Neutron changes only their description). */
interface NeutronCrud {
  list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]>;
  show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource>;
  create(caller: NeutronCaller, body: unknown): Promise<NeutronResource>;
  update?(caller: NeutronCaller, id: string, body: unknown): Promise<NeutronResource>;
  delete(caller: NeutronCaller, id: string): Promise<void>;
}

@Injectable()
export class NeutronHandlers implements OnModuleInit {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(NetworksService) private readonly networks: NetworksService,
    @Inject(SubnetsService) private readonly subnets: SubnetsService,
    @Inject(PortsService) private readonly ports: PortsService,
    @Inject(SecurityGroupsService) private readonly groups: SecurityGroupsService,
    @Inject(SecurityGroupRulesService) private readonly rules: SecurityGroupRulesService,
    @Inject(RoutersService) private readonly routers: RoutersService,
    @Inject(RouterInterfacesService) private readonly routerInterfaces: RouterInterfacesService,
    @Inject(FloatingIpsService) private readonly floatingIps: FloatingIpsService,
    @Optional() @Inject(DataplaneFollowUp) private readonly followUp: DataplaneFollowUp | null = null,
  ) {}

  onModuleInit(): void {
    this.serve('networks', this.networks);
    this.serve('subnets', this.subnets);
    this.serve('ports', this.ports);
    this.serve('security-groups', this.groups);
    this.serve('security-group-rules', this.rules);
    this.serve('routers', this.routers);
    this.serve('floatingips', this.floatingIps);
    const { addInterface, removeInterface } = NeutronRouterOps;
    this.rpc.handle(subjects.service('network', addInterface.op), addInterface, async ({ caller, id, body }) => ({
      item: await this.routerInterfaces.add(caller, id, body),
    }));
    this.rpc.handle(subjects.service('network', removeInterface.op), removeInterface, async ({ caller, id, body }) => ({
      item: await this.routerInterfaces.remove(caller, id, body),
    }));
    this.rpc.handle(subjects.service('network', NetworkOps.list.op), NetworkOps.list, async ({ projectId }) => {
      const items = await this.networks.list({ projectId, isAdmin: false }, {});
      return { networks: items.map((n) => ({ id: String(n.id), name: String(n.name), projectId: String(n.project_id), shared: Boolean(n.shared) })) };
    });
    this.rpc.handle(subjects.service('network', HealthOps.check.op), HealthOps.check, async () => ({
      service: 'network',
      ...(await runChecks(async () => ({ postgres: await probe(() => this.db.query('SELECT 1')) }))),
    }));
  }

  private serve(collection: keyof typeof NeutronOps, service: NeutronCrud): void {
    const ops = NeutronOps[collection];
    const subject = (op: string) => subjects.service('network', op);
    this.rpc.handle(subject(ops.list.op), ops.list, async ({ caller, query }) => ({ items: await service.list(caller, query ?? {}) }));
    this.rpc.handle(subject(ops.show.op), ops.show, async ({ caller, id, query }) => ({ item: await service.show(caller, id, query ?? {}) }));
    // Changes reach the data planes before the answer (DataplaneFollowUp).
    const followUp = (ctx: { requestId?: string }) => this.followUp?.afterChange(collection, ctx.requestId);
    this.rpc.handle(subject(ops.create.op), ops.create, async ({ caller, body }, ctx) => {
      const item = await service.create(caller, body);
      await followUp(ctx);
      return { item };
    });
    if (service.update) {
      const update = service.update.bind(service);
      this.rpc.handle(subject(ops.update.op), ops.update, async ({ caller, id, body }, ctx) => {
        const item = await update(caller, id, body);
        await followUp(ctx);
        return { item };
      });
    }
    this.rpc.handle(subject(ops.delete.op), ops.delete, async ({ caller, id }, ctx) => {
      await service.delete(caller, id);
      await followUp(ctx);
      return {};
    });
  }
}
