/**
 * Neutron floating IPs: an address of an external network (held by a network:floatingip port),
 * associated with a fixed IP of a port behind a router that has its gateway on that network.
 * Association holds that router's row (FOR SHARE), so an interface or gateway removal and an
 * association take turns; floating_ips_fixed refuses a second floating IP for one fixed IP.
 */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { isUniqueViolation } from '../common/db';
import { formatIp, parseIp } from '../common/ipv4';
import { NOT_FOUND, badRequest, conflict, notFound } from '../common/neutron-errors';
import { isUuid, isoTime, listView, selectFields } from '../common/neutron-query';
import { NetworksService } from '../networks/networks.service';
import { L3Changes, checkL3Quota, createL3Port } from '../routers/l3-store';
import { parseFloatingIpCreate, parseFloatingIpUpdate } from './floating-ip-body';

interface FloatingIpRow {
  id: string;
  project_id: string;
  description: string;
  floating_network_id: string;
  floating_port_id: string;
  floating_ip_address: string;
  fixed_port_id: string | null;
  fixed_ip_address: string | null;
  router_id: string | null;
  created_at: Date;
  updated_at: Date;
  revision_number: number;
  port_details: Record<string, unknown> | null;
}

const SELECT = `SELECT f.*, host(f.floating_ip_address) AS floating_ip_address, host(f.fixed_ip_address) AS fixed_ip_address,
    CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object('name', p.name, 'network_id', p.network_id, 'mac_address', p.mac_address,
      'admin_state_up', p.admin_state_up, 'status', p.status, 'device_id', p.device_id, 'device_owner', p.device_owner) END AS port_details
  FROM network.floating_ips f LEFT JOIN network.ports p ON p.id = f.fixed_port_id`;
const VISIBLE = `($1::boolean OR f.project_id = $2)`;

const fipNotFound = (id: string) => notFound('FloatingIPNotFound', `Floating IP ${id} could not be found`);
const badFip = (message: string, field: string) => badRequest(`Bad floatingip request: ${message}`, field);

@Injectable()
export class FloatingIpsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(NetworksService) private readonly networks: NetworksService,
    @Inject(L3Changes) private readonly changes: L3Changes,
  ) {}

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    const rows: FloatingIpRow[] = await this.db.query(`${SELECT} WHERE ${VISIBLE} ORDER BY f.created_at, f.id`, [caller.isAdmin, caller.projectId]);
    return listView(rows.map(view), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    return selectFields(view(await this.visible(this.db.manager, caller, id)), query);
  }

  private async visible(m: EntityManager, caller: NeutronCaller, id: string, lock = false): Promise<FloatingIpRow> {
    if (!isUuid(id)) throw fipNotFound(id);
    const [row] = await m.query(`${SELECT} WHERE f.id = $3 AND ${VISIBLE}${lock ? ' FOR UPDATE OF f' : ''}`, [caller.isAdmin, caller.projectId, id]);
    if (!row) throw fipNotFound(id);
    return row;
  }

  async create(caller: NeutronCaller, body: unknown): Promise<NeutronResource> {
    const spec = parseFloatingIpCreate(body, caller);
    const id = randomUUID();
    await this.db.transaction(async (m) => {
      await checkL3Quota(m, 'floatingip', spec.projectId);
      const network = await this.networks.visible(m, caller, spec.networkId);
      if (!network.router_external) throw badFip(`Network ${spec.networkId} is not a valid external network.`, 'floating_network_id');
      if (!network.subnet_ids?.length) throw badFip(`Network ${spec.networkId} does not contain any IPv4 subnet`, 'floating_network_id');
      const requests = spec.address !== undefined || spec.subnetId ? [{ subnetId: spec.subnetId, ipAddress: spec.address }] : undefined;
      const port = await createL3Port(m, { networkId: network.id, projectId: '', deviceId: id, deviceOwner: 'network:floatingip', fixedIps: requests });
      await m.query(
        `INSERT INTO network.floating_ips (id, project_id, description, floating_network_id, floating_port_id, floating_ip_address)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, spec.projectId, spec.description ?? '', network.id, port.id, formatIp(port.allocations[0].ip)],
      );
      if (spec.association) await this.associate(m, caller, await this.visible(m, { isAdmin: true, projectId: '' }, id, true), spec.association);
    });
    this.changes.notify();
    return this.show(caller, id, {});
  }

  async update(caller: NeutronCaller, id: string, body: unknown): Promise<NeutronResource> {
    const u = parseFloatingIpUpdate(body);
    await this.db.transaction(async (m) => {
      const fip = await this.visible(m, caller, id, true);
      await m.query(`UPDATE network.floating_ips SET description = coalesce($2, description), updated_at = now(), revision_number = revision_number + 1 WHERE id = $1`, [
        id, u.description,
      ]);
      if (!u.association) return;
      const portId = u.association.portId === undefined ? fip.fixed_port_id : u.association.portId;
      if (u.association.portId === undefined && !portId) throw badFip('fixed_ip_address cannot be specified without a port_id', 'fixed_ip_address');
      if (portId === null) await m.query(`UPDATE network.floating_ips SET fixed_port_id = NULL WHERE id = $1`, [id]);
      else await this.associate(m, caller, fip, { portId, fixedIp: u.association.fixedIp });
    });
    this.changes.notify();
    return this.show(caller, id, {});
  }

  /** The floating port goes, and the row with it (ON DELETE CASCADE). */
  async delete(caller: NeutronCaller, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const fip = await this.visible(m, caller, id, true);
      await m.query(`DELETE FROM network.ports WHERE id = $1`, [fip.floating_port_id]);
    });
    this.changes.notify();
  }

  private async associate(m: EntityManager, caller: NeutronCaller, fip: FloatingIpRow, a: { portId: string; fixedIp?: number }): Promise<void> {
    const [port] = await m.query(`SELECT id, project_id, network_id FROM network.ports WHERE id = $1 AND ($2::boolean OR project_id = $3)`, [
      isUuid(a.portId) ? a.portId : null, caller.isAdmin, caller.projectId,
    ]);
    if (!port) throw NOT_FOUND.port(a.portId);
    if (port.project_id !== fip.project_id && !caller.isAdmin) {
      throw badFip(`Cannot create floating IP and bind it to Port ${a.portId}, since that port is owned by a different tenant.`, 'port_id');
    }
    const ips: Array<{ subnet_id: string; ip: string }> = await m.query(
      `SELECT subnet_id, host(ip_address) AS ip FROM network.ip_allocations WHERE port_id = $1 AND family(ip_address) = 4 ORDER BY ip_address`,
      [a.portId],
    );
    if (!ips.length) throw badFip(`Port ${a.portId} does not have any IPv4 address.`, 'port_id');
    let fixed = ips[0];
    if (a.fixedIp !== undefined) {
      const wanted = ips.find((i) => parseIp(i.ip) === a.fixedIp);
      if (!wanted) throw badFip(`Port ${a.portId} does not have fixed ip ${formatIp(a.fixedIp)}`, 'fixed_ip_address');
      fixed = wanted;
    } else if (ips.length > 1) {
      throw badFip(`Port ${a.portId} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP`, 'fixed_ip_address');
    }
    const [router] = await m.query(
      `SELECT r.id FROM network.routers r
         JOIN network.ports p ON p.device_id = r.id::text AND p.device_owner = 'network:router_interface'
         JOIN network.ip_allocations x ON x.port_id = p.id
        WHERE r.gw_network_id = $1 AND x.subnet_id = $2 ORDER BY r.created_at, r.id LIMIT 1 FOR SHARE OF r`,
      [fip.floating_network_id, fixed.subnet_id],
    );
    if (!router) {
      throw notFound(
        'ExternalGatewayForFloatingIPNotFound',
        `External network ${fip.floating_network_id} is not reachable from subnet ${fixed.subnet_id}. Therefore, cannot associate Port ${a.portId} with a Floating IP.`,
      );
    }
    await m.query('SAVEPOINT fip_associate');
    try {
      await m.query(`UPDATE network.floating_ips SET fixed_port_id = $2, fixed_ip_address = $3, router_id = $4 WHERE id = $1`, [
        fip.id, a.portId, fixed.ip, router.id,
      ]);
      await m.query('RELEASE SAVEPOINT fip_associate');
    } catch (error) {
      if (!isUniqueViolation(error, 'floating_ips_fixed')) throw error;
      await m.query('ROLLBACK TO SAVEPOINT fip_associate');
      throw conflict(
        'FloatingIPPortAlreadyAssociated',
        `Cannot associate floating IP ${fip.floating_ip_address} (${fip.id}) with port ${a.portId} using fixed IP ${fixed.ip}, as that fixed IP already has a floating IP on external network ${fip.floating_network_id}.`,
      );
    }
  }
}

function view(r: FloatingIpRow): NeutronResource {
  return {
    id: r.id,
    floating_ip_address: r.floating_ip_address,
    floating_network_id: r.floating_network_id,
    router_id: r.router_id,
    port_id: r.fixed_port_id,
    fixed_ip_address: r.fixed_ip_address,
    status: r.router_id ? 'ACTIVE' : 'DOWN',
    tenant_id: r.project_id,
    project_id: r.project_id,
    description: r.description,
    qos_policy_id: null,
    port_details: r.port_details,
    port_forwardings: [],
    tags: [],
    created_at: isoTime(r.created_at),
    updated_at: isoTime(r.updated_at),
    revision_number: r.revision_number,
  };
}
