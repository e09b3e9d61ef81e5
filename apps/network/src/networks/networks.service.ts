/** Neutron networks: CRUD, tenancy, VNI allocation. */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { VNI_RANGE, VniRange } from '../config';
import { checkQuota, isUniqueViolation } from '../common/db';
import { NOT_FOUND, conflict, forbidden, noNetworkAvailable } from '../common/neutron-errors';
import { isUuid, isoTime, listView, selectFields } from '../common/neutron-query';
import { NetworkCreate, NetworkType, parseNetworkCreate, parseNetworkUpdate } from './network-body';

export interface NetworkRow {
  id: string;
  project_id: string;
  name: string;
  description: string;
  shared: boolean;
  admin_state_up: boolean;
  router_external: boolean;
  network_type: NetworkType;
  physical_network: string | null;
  segmentation_id: number | null;
  mtu: number;
  port_security_enabled: boolean;
  created_at: Date;
  updated_at: Date;
  revision_number: number;
  subnet_ids: string[] | null;
}

const SELECT = `SELECT n.*, (SELECT array_agg(s.id::text ORDER BY s.created_at) FROM network.subnets s WHERE s.network_id = n.id) AS subnet_ids
  FROM network.networks n`;
/** Neutron's get_network policy: the owner, admins, and everyone for shared or external networks. */
export const VISIBLE = `($1::boolean OR n.project_id = $2 OR n.shared OR n.router_external)`;

@Injectable()
export class NetworksService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(VNI_RANGE) private readonly vnis: VniRange,
  ) {}

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    const rows: NetworkRow[] = await this.db.query(`${SELECT} WHERE ${VISIBLE} ORDER BY n.created_at, n.id`, [caller.isAdmin, caller.projectId]);
    return listView(rows.map((r) => view(r, caller)), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    return selectFields(view(await this.visible(this.db.manager, caller, id), caller), query);
  }

  /** The network if the caller may see it, else NetworkNotFound (never says whose it is). */
  async visible(m: EntityManager, caller: NeutronCaller, id: string, lock = false): Promise<NetworkRow> {
    if (!isUuid(id)) throw NOT_FOUND.network(id);
    const [row] = await m.query(`${SELECT} WHERE n.id = $3 AND ${VISIBLE}${lock ? ' FOR UPDATE OF n' : ''}`, [caller.isAdmin, caller.projectId, id]);
    if (!row) throw NOT_FOUND.network(id);
    return row;
  }

  async create(caller: NeutronCaller, body: unknown): Promise<NeutronResource> {
    const spec = parseNetworkCreate(body, caller);
    const id = randomUUID();
    await this.db.transaction(async (m) => {
      await checkQuota(m, 'network', spec.projectId);
      const segmentationId = spec.segmentationId === undefined ? await this.allocateVni(m) : spec.segmentationId;
      await insertNetwork(m, id, spec, segmentationId);
    });
    return this.show(caller, id, {});
  }

  /**
   * The lowest free VNI of the range. The advisory lock makes concurrent creates take turns; the
   * unique index networks_segment would refuse a duplicate all the same.
   */
  private async allocateVni(m: EntityManager): Promise<number> {
    await m.query(`SELECT pg_advisory_xact_lock(hashtext('neutron-vni'))`);
    const [free] = await m.query(
      `SELECT s::int AS vni FROM generate_series($1::int, $2::int) s
        WHERE NOT EXISTS (SELECT 1 FROM network.networks WHERE network_type = 'vxlan' AND segmentation_id = s) ORDER BY s LIMIT 1`,
      [this.vnis.first, this.vnis.last],
    );
    if (!free) throw noNetworkAvailable();
    return free.vni;
  }

  async update(caller: NeutronCaller, id: string, body: unknown): Promise<NeutronResource> {
    await this.db.transaction(async (m) => {
      const row = await this.visible(m, caller, id, true);
      if (row.project_id !== caller.projectId && !caller.isAdmin) throw forbidden(`(rule:update_network) is disallowed by policy`);
      const u = parseNetworkUpdate(body, caller, row.network_type);
      await m.query(
        `UPDATE network.networks SET name = coalesce($2, name), description = coalesce($3, description),
           admin_state_up = coalesce($4, admin_state_up), shared = coalesce($5, shared), router_external = coalesce($6, router_external),
           port_security_enabled = coalesce($7, port_security_enabled), mtu = coalesce($8, mtu),
           updated_at = now(), revision_number = revision_number + 1 WHERE id = $1`,
        [id, u.name, u.description, u.adminStateUp, u.shared, u.external, u.portSecurity, u.mtu],
      );
    });
    return this.show(caller, id, {});
  }

  /** Subnets and DHCP ports go with the network; any other port keeps it (NetworkInUse). */
  async delete(caller: NeutronCaller, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const row = await this.visible(m, caller, id, true);
      if (row.project_id !== caller.projectId && !caller.isAdmin) throw forbidden(`(rule:delete_network) is disallowed by policy`);
      const [inUse] = await m.query(`SELECT 1 FROM network.ports WHERE network_id = $1 AND device_owner <> 'network:dhcp' LIMIT 1`, [id]);
      if (inUse) {
        throw conflict('NetworkInUse', `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`);
      }
      await m.query(`DELETE FROM network.ports WHERE network_id = $1`, [id]);
      await m.query(`DELETE FROM network.subnets WHERE network_id = $1`, [id]);
      await m.query(`DELETE FROM network.networks WHERE id = $1`, [id]);
    });
  }
}

async function insertNetwork(m: EntityManager, id: string, s: NetworkCreate, segmentationId: number | null): Promise<void> {
  try {
    await m.query(
      `INSERT INTO network.networks (id, project_id, name, description, shared, admin_state_up, router_external, network_type,
         physical_network, segmentation_id, mtu, port_security_enabled) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
      [id, s.projectId, s.name, s.description, s.shared, s.adminStateUp, s.external, s.networkType, s.physicalNetwork, segmentationId, s.mtu, s.portSecurity],
    );
  } catch (error) {
    if (isUniqueViolation(error, 'networks_flat')) {
      throw conflict('FlatNetworkInUse', `Unable to create the flat network. Physical network ${s.physicalNetwork} is in use.`);
    }
    if (isUniqueViolation(error, 'networks_segment')) {
      throw s.networkType === 'vlan'
        ? conflict('VlanIdInUse', `Unable to create the network. The VLAN ${segmentationId} on physical network ${s.physicalNetwork} is in use.`)
        : conflict('TunnelIdInUse', `Unable to create the network. The tunnel ID ${segmentationId} is in use.`);
    }
    throw error;
  }
}

/** Neutron's network as the caller may see it (provider attributes are for admins). */
export function view(r: NetworkRow, caller: NeutronCaller): NeutronResource {
  const out: NeutronResource = {
    id: r.id,
    name: r.name,
    tenant_id: r.project_id,
    project_id: r.project_id,
    admin_state_up: r.admin_state_up,
    mtu: r.mtu,
    status: 'ACTIVE',
    subnets: r.subnet_ids ?? [],
    shared: r.shared,
    'router:external': r.router_external,
    port_security_enabled: r.port_security_enabled,
    availability_zone_hints: [],
    availability_zones: ['nova'],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    l2_adjacency: true,
    description: r.description,
    tags: [],
    created_at: isoTime(r.created_at),
    updated_at: isoTime(r.updated_at),
    revision_number: r.revision_number,
  };
  if (caller.isAdmin) {
    out['provider:network_type'] = r.network_type;
    out['provider:physical_network'] = r.physical_network;
    out['provider:segmentation_id'] = r.segmentation_id;
  }
  return out;
}
