/** Neutron subnets (IPv4): CRUD, overlap checks under the network's row lock, in-use checks. */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { checkQuota } from '../common/db';
import { Cidr, Range, cidrsOverlap, formatCidr, formatIp, parseIp } from '../common/ipv4';
import { NOT_FOUND, badRequest, conflict, forbidden } from '../common/neutron-errors';
import { isUuid, isoTime, listView, selectFields } from '../common/neutron-query';
import { NetworksService } from '../networks/networks.service';
import { HostRoute, parseCidr, parseSubnetCreate, parseSubnetUpdate } from './subnet-body';

export interface SubnetRow {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  description: string;
  ip_version: number;
  cidr: string;
  gateway_ip: string | null;
  allocation_pools: Array<{ start: string; end: string }>;
  dns_nameservers: string[];
  host_routes: HostRoute[];
  enable_dhcp: boolean;
  created_at: Date;
  updated_at: Date;
  revision_number: number;
}

const SELECT = `SELECT s.*, host(s.gateway_ip) AS gateway_ip FROM network.subnets s JOIN network.networks n ON n.id = s.network_id`;
const VISIBLE = `($1::boolean OR s.project_id = $2 OR n.project_id = $2 OR n.shared OR n.router_external)`;

export const poolsOf = (row: SubnetRow): Range[] => row.allocation_pools.map((p) => ({ first: parseIp(p.start)!, last: parseIp(p.end)! }));
export const cidrOf = (row: SubnetRow): Cidr => parseCidr(row.cidr);
const poolJson = (pools: Range[]) => JSON.stringify(pools.map((p) => ({ start: formatIp(p.first), end: formatIp(p.last) })));

@Injectable()
export class SubnetsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(NetworksService) private readonly networks: NetworksService,
  ) {}

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    const rows: SubnetRow[] = await this.db.query(`${SELECT} WHERE ${VISIBLE} ORDER BY s.created_at, s.id`, [caller.isAdmin, caller.projectId]);
    return listView(rows.map(view), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    return selectFields(view(await this.visible(this.db.manager, caller, id)), query);
  }

  async visible(m: EntityManager, caller: NeutronCaller, id: string, lock = false): Promise<SubnetRow> {
    if (!isUuid(id)) throw NOT_FOUND.subnet(id);
    const [row] = await m.query(`${SELECT} WHERE s.id = $3 AND ${VISIBLE}${lock ? ' FOR UPDATE OF s' : ''}`, [caller.isAdmin, caller.projectId, id]);
    if (!row) throw NOT_FOUND.subnet(id);
    return row;
  }

  async create(caller: NeutronCaller, body: unknown): Promise<NeutronResource> {
    const spec = parseSubnetCreate(body, caller);
    const id = randomUUID();
    await this.db.transaction(async (m) => {
      // The network's row lock keeps two parallel creates from both passing the overlap check.
      const network = await this.networks.visible(m, caller, spec.networkId, true);
      if (network.project_id !== caller.projectId && !caller.isAdmin) throw forbidden(`(rule:create_subnet) is disallowed by policy`);
      const projectId = spec.projectId ?? caller.projectId;
      await checkQuota(m, 'subnet', projectId);
      const siblings: SubnetRow[] = await m.query(`SELECT id, cidr FROM network.subnets WHERE network_id = $1`, [network.id]);
      if (siblings.some((s) => cidrsOverlap(cidrOf(s), spec.cidr))) {
        throw badRequest(
          `Invalid input for operation: Requested subnet with cidr: ${formatCidr(spec.cidr)} for network: ${network.id} overlaps with another subnet.`,
          'cidr',
        );
      }
      await m.query(
        `INSERT INTO network.subnets (id, network_id, project_id, name, description, ip_version, cidr, gateway_ip, allocation_pools,
           dns_nameservers, host_routes, enable_dhcp) VALUES ($1,$2,$3,$4,$5,4,$6,$7,$8,$9,$10,$11)`,
        [id, network.id, projectId, spec.name, spec.description, formatCidr(spec.cidr), spec.gateway === null ? null : formatIp(spec.gateway),
          poolJson(spec.pools), JSON.stringify(spec.dnsNameservers), JSON.stringify(spec.hostRoutes), spec.enableDhcp],
      );
    });
    return this.show(caller, id, {});
  }

  async update(caller: NeutronCaller, id: string, body: unknown): Promise<NeutronResource> {
    await this.db.transaction(async (m) => {
      const row = await this.owned(m, caller, id, 'update');
      const gateway = row.gateway_ip === null ? null : parseIp(row.gateway_ip)!;
      const u = parseSubnetUpdate(body, cidrOf(row), { gateway, pools: poolsOf(row) });
      await m.query(
        `UPDATE network.subnets SET name = coalesce($2, name), description = coalesce($3, description), enable_dhcp = coalesce($4, enable_dhcp),
           gateway_ip = CASE WHEN $5::boolean THEN $6::inet ELSE gateway_ip END, allocation_pools = coalesce($7::jsonb, allocation_pools),
           dns_nameservers = coalesce($8::jsonb, dns_nameservers), host_routes = coalesce($9::jsonb, host_routes),
           updated_at = now(), revision_number = revision_number + 1 WHERE id = $1`,
        [id, u.name, u.description, u.enableDhcp, u.gateway !== undefined, u.gateway == null ? null : formatIp(u.gateway),
          u.pools ? poolJson(u.pools) : null, u.dnsNameservers ? JSON.stringify(u.dnsNameservers) : null, u.hostRoutes ? JSON.stringify(u.hostRoutes) : null],
      );
    });
    return this.show(caller, id, {});
  }

  /** Addresses of DHCP ports go with the subnet; any other port's keep it (SubnetInUse). */
  async delete(caller: NeutronCaller, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      // The network's row lock first, as port creates take it: no allocation lands while we look.
      if (isUuid(id)) await m.query(`SELECT 1 FROM network.networks WHERE id = (SELECT network_id FROM network.subnets WHERE id = $1) FOR UPDATE`, [id]);
      await this.owned(m, caller, id, 'delete');
      const [inUse] = await m.query(
        `SELECT 1 FROM network.ip_allocations a JOIN network.ports p ON p.id = a.port_id WHERE a.subnet_id = $1 AND p.device_owner <> 'network:dhcp' LIMIT 1`,
        [id],
      );
      if (inUse) throw conflict('SubnetInUse', `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`);
      await m.query(`DELETE FROM network.ip_allocations WHERE subnet_id = $1`, [id]);
      await m.query(`DELETE FROM network.subnets WHERE id = $1`, [id]);
    });
  }

  private async owned(m: EntityManager, caller: NeutronCaller, id: string, verb: string): Promise<SubnetRow> {
    const row = await this.visible(m, caller, id, true);
    if (row.project_id !== caller.projectId && !caller.isAdmin) throw forbidden(`(rule:${verb}_subnet) is disallowed by policy`);
    return row;
  }
}

export function view(r: SubnetRow): NeutronResource {
  return {
    id: r.id,
    name: r.name,
    tenant_id: r.project_id,
    project_id: r.project_id,
    network_id: r.network_id,
    ip_version: r.ip_version,
    subnetpool_id: null,
    enable_dhcp: r.enable_dhcp,
    ipv6_ra_mode: null,
    ipv6_address_mode: null,
    gateway_ip: r.gateway_ip,
    cidr: r.cidr,
    allocation_pools: r.allocation_pools,
    host_routes: r.host_routes,
    dns_nameservers: r.dns_nameservers,
    description: r.description,
    service_types: [],
    segment_id: null,
    tags: [],
    created_at: isoTime(r.created_at),
    updated_at: isoTime(r.updated_at),
    revision_number: r.revision_number,
  };
}
