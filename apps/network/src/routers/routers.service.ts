/** Neutron routers: CRUD and the external gateway (a network:router_gateway port on an external network). */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { badRequest, conflict, notFound } from '../common/neutron-errors';
import { isUuid, isoTime, listView, selectFields } from '../common/neutron-query';
import { NetworksService } from '../networks/networks.service';
import { L3Changes, checkL3Quota, createL3Port } from './l3-store';
import { GatewayInfo, RouterFields, parseRouterCreate, parseRouterUpdate } from './router-body';

export interface RouterRow {
  id: string;
  project_id: string;
  name: string;
  description: string;
  admin_state_up: boolean;
  status: string;
  gw_network_id: string | null;
  enable_snat: boolean;
  created_at: Date;
  updated_at: Date;
  revision_number: number;
  gw_port_id: string | null;
  gw_fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
}

const SELECT = `SELECT r.*, gp.id AS gw_port_id,
    coalesce((SELECT json_agg(json_build_object('subnet_id', a.subnet_id, 'ip_address', host(a.ip_address)) ORDER BY a.ip_address)
      FROM network.ip_allocations a WHERE a.port_id = gp.id), '[]') AS gw_fixed_ips
  FROM network.routers r LEFT JOIN network.ports gp ON gp.device_id = r.id::text AND gp.device_owner = 'network:router_gateway'`;
const VISIBLE = `($1::boolean OR r.project_id = $2)`;

export const routerNotFound = (id: string) => notFound('RouterNotFound', `Router ${id} could not be found`);

@Injectable()
export class RoutersService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(NetworksService) private readonly networks: NetworksService,
    @Inject(L3Changes) private readonly changes: L3Changes,
  ) {}

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    const rows: RouterRow[] = await this.db.query(`${SELECT} WHERE ${VISIBLE} ORDER BY r.created_at, r.id`, [caller.isAdmin, caller.projectId]);
    return listView(rows.map((r) => view(r, caller)), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    return selectFields(view(await this.visible(this.db.manager, caller, id), caller), query);
  }

  /** The router if the caller may see it (its project's, or any for admins); `lock` holds its row. */
  async visible(m: EntityManager, caller: NeutronCaller, id: string, lock = false): Promise<RouterRow> {
    if (!isUuid(id)) throw routerNotFound(id);
    if (lock) await m.query(`SELECT id FROM network.routers WHERE id = $1 FOR UPDATE`, [id]);
    const [row] = await m.query(`${SELECT} WHERE r.id = $3 AND ${VISIBLE}`, [caller.isAdmin, caller.projectId, id]);
    if (!row) throw routerNotFound(id);
    return row;
  }

  async create(caller: NeutronCaller, body: unknown): Promise<NeutronResource> {
    const spec = parseRouterCreate(body, caller);
    const id = randomUUID();
    await this.db.transaction(async (m) => {
      await checkL3Quota(m, 'router', spec.projectId);
      await m.query(`INSERT INTO network.routers (id, project_id, name, description, admin_state_up) VALUES ($1, $2, $3, $4, $5)`, [
        id, spec.projectId, spec.name ?? '', spec.description ?? '', spec.adminStateUp ?? true,
      ]);
      if (spec.gateway) await this.setGateway(m, caller, id, spec.gateway);
    });
    this.changes.notify();
    return this.show(caller, id, {});
  }

  async update(caller: NeutronCaller, id: string, body: unknown): Promise<NeutronResource> {
    const u: RouterFields = parseRouterUpdate(body, caller);
    await this.db.transaction(async (m) => {
      const router = await this.visible(m, caller, id, true);
      await m.query(
        `UPDATE network.routers SET name = coalesce($2, name), description = coalesce($3, description), admin_state_up = coalesce($4, admin_state_up),
           updated_at = now(), revision_number = revision_number + 1 WHERE id = $1`,
        [id, u.name, u.description, u.adminStateUp],
      );
      if (u.gateway === undefined) return;
      const sameNetwork = u.gateway !== null && u.gateway.networkId === router.gw_network_id && u.gateway.fixedIps === undefined;
      if (sameNetwork) {
        await m.query(`UPDATE network.routers SET enable_snat = coalesce($2, enable_snat) WHERE id = $1`, [id, u.gateway!.enableSnat]);
        return;
      }
      await this.clearGateway(m, router);
      if (u.gateway) await this.setGateway(m, caller, id, u.gateway);
    });
    this.changes.notify();
    return this.show(caller, id, {});
  }

  /** Interfaces keep a router (RouterInUse); its gateway port goes with it. */
  async delete(caller: NeutronCaller, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const router = await this.visible(m, caller, id, true);
      const [itf] = await m.query(`SELECT 1 FROM network.ports WHERE device_id = $1 AND device_owner = 'network:router_interface' LIMIT 1`, [id]);
      if (itf) throw conflict('RouterInUse', `Router ${id} still has ports`);
      await this.clearGateway(m, router);
      await m.query(`DELETE FROM network.routers WHERE id = $1`, [id]);
    });
    this.changes.notify();
  }

  /** The gateway on an external network: Neutron's "Bad router request" when it is not one. */
  private async setGateway(m: EntityManager, caller: NeutronCaller, routerId: string, gw: GatewayInfo): Promise<void> {
    const network = await this.networks.visible(m, caller, gw.networkId);
    if (!network.router_external) throw badRequest(`Bad router request: Network ${gw.networkId} is not an external network.`, 'external_gateway_info');
    await createL3Port(m, {
      networkId: network.id,
      projectId: '',
      deviceId: routerId,
      deviceOwner: 'network:router_gateway',
      fixedIps: gw.fixedIps?.map((f) => ({ subnetId: f.subnetId, ipAddress: f.ipAddress })),
    });
    await m.query(`UPDATE network.routers SET gw_network_id = $2, enable_snat = $3 WHERE id = $1`, [routerId, network.id, gw.enableSnat ?? true]);
  }

  /** Floating IPs reached through the gateway keep it (RouterExternalGatewayInUseByFloatingIp). */
  private async clearGateway(m: EntityManager, router: RouterRow): Promise<void> {
    if (!router.gw_network_id) return;
    const [fip] = await m.query(`SELECT 1 FROM network.floating_ips WHERE router_id = $1 LIMIT 1`, [router.id]);
    if (fip) {
      throw conflict(
        'RouterExternalGatewayInUseByFloatingIp',
        `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${router.gw_network_id} is required by one or more floating IPs.`,
      );
    }
    await m.query(`DELETE FROM network.ports WHERE device_id = $1 AND device_owner = 'network:router_gateway'`, [router.id]);
    await m.query(`UPDATE network.routers SET gw_network_id = NULL, enable_snat = true WHERE id = $1`, [router.id]);
  }
}

function view(r: RouterRow, caller: NeutronCaller): NeutronResource {
  const out: NeutronResource = {
    id: r.id,
    name: r.name,
    description: r.description,
    admin_state_up: r.admin_state_up,
    status: r.status,
    tenant_id: r.project_id,
    project_id: r.project_id,
    external_gateway_info: r.gw_network_id
      ? { network_id: r.gw_network_id, enable_snat: r.enable_snat, external_fixed_ips: r.gw_fixed_ips }
      : null,
    routes: [],
    availability_zone_hints: [],
    availability_zones: ['nova'],
    flavor_id: null,
    tags: [],
    created_at: isoTime(r.created_at),
    updated_at: isoTime(r.updated_at),
    revision_number: r.revision_number,
  };
  // Neutron shows these to admins only.
  if (caller.isAdmin) Object.assign(out, { distributed: false, ha: false });
  return out;
}
