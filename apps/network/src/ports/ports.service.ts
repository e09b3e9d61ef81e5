/** Neutron ports: CRUD with IPAM, MAC addresses, security groups and address pairs. */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { checkQuota, isUniqueViolation } from '../common/db';
import { NOT_FOUND, badRequest, conflict } from '../common/neutron-errors';
import { isUuid, isoTime, listView, selectFields } from '../common/neutron-query';
import { NetworkRow, NetworksService } from '../networks/networks.service';
import { SecurityGroupsService } from '../security-groups/security-groups.service';
import { allocateAddresses } from './ipam';
import { AddressPair, PortFields, parsePortCreate, parsePortUpdate, randomMac } from './port-body';
import { refuseL3PortDelete } from './service-port-guard';

interface PortRow {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  description: string;
  mac_address: string;
  admin_state_up: boolean;
  status: string;
  device_id: string;
  device_owner: string;
  binding_host_id: string;
  port_security_enabled: boolean;
  allowed_address_pairs: AddressPair[];
  created_at: Date;
  updated_at: Date;
  revision_number: number;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  security_groups: string[];
}

const SELECT = `SELECT p.*,
    coalesce((SELECT json_agg(json_build_object('subnet_id', a.subnet_id, 'ip_address', host(a.ip_address)) ORDER BY a.ip_address)
      FROM network.ip_allocations a WHERE a.port_id = p.id), '[]') AS fixed_ips,
    coalesce((SELECT array_agg(g.security_group_id::text) FROM network.port_security_groups g WHERE g.port_id = p.id), '{}') AS security_groups
  FROM network.ports p JOIN network.networks n ON n.id = p.network_id`;
/** Neutron's get_port policy: admins, the port's owner, the network's owner. */
const VISIBLE = `($1::boolean OR p.project_id = $2 OR n.project_id = $2)`;
const MAC_TRIES = 8;

@Injectable()
export class PortsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(NetworksService) private readonly networks: NetworksService,
    @Inject(SecurityGroupsService) private readonly groups: SecurityGroupsService,
  ) {}

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    const rows: PortRow[] = await this.db.query(`${SELECT} WHERE ${VISIBLE} ORDER BY p.created_at, p.id`, [caller.isAdmin, caller.projectId]);
    return listView(rows.map((r) => view(r, caller)), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    return selectFields(view(await this.visible(this.db.manager, caller, id), caller), query);
  }

  private async visible(m: EntityManager, caller: NeutronCaller, id: string, lock = false): Promise<PortRow> {
    if (!isUuid(id)) throw NOT_FOUND.port(id);
    const [row] = await m.query(`${SELECT} WHERE p.id = $3 AND ${VISIBLE}${lock ? ' FOR UPDATE OF p' : ''}`, [caller.isAdmin, caller.projectId, id]);
    if (!row) throw NOT_FOUND.port(id);
    return row;
  }

  async create(caller: NeutronCaller, body: unknown): Promise<NeutronResource> {
    const spec = parsePortCreate(body, caller);
    const id = randomUUID();
    // Outside the port's transaction: the default group must exist for everyone once made.
    const defaultGroup = spec.securityGroups === undefined ? await this.groups.ensureDefault(this.db.manager, spec.projectId) : undefined;
    await this.db.transaction(async (m) => {
      await checkQuota(m, 'port', spec.projectId);
      const network = await this.networks.visible(m, caller, spec.networkId, true);
      const portSecurity = spec.portSecurity ?? network.port_security_enabled;
      const groups = await this.securityGroups(m, caller, spec.projectId, portSecurity, spec.securityGroups ?? (portSecurity ? [defaultGroup!] : []));
      if (!portSecurity && spec.addressPairs?.length) throw addressPairsNeedPortSecurity();
      const mac = await this.insertPort(m, id, spec, network, portSecurity);
      const pairs = (spec.addressPairs ?? []).map((p) => ({ ...p, mac_address: p.mac_address ?? mac }));
      await m.query(`UPDATE network.ports SET allowed_address_pairs = $2 WHERE id = $1`, [id, JSON.stringify(pairs)]);
      await allocateAddresses(m, { networkId: network.id, portId: id, requests: spec.fixedIps, deviceOwner: spec.deviceOwner ?? '' });
      await this.setGroups(m, id, groups);
    });
    return this.show(caller, id, {});
  }

  /** Inserts the port row with the given MAC, or a generated one (tried again on a collision). */
  private async insertPort(m: EntityManager, id: string, spec: ReturnType<typeof parsePortCreate>, network: NetworkRow, portSecurity: boolean): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const mac = spec.macAddress ?? randomMac();
      await m.query('SAVEPOINT insert_port');
      try {
        await m.query(
          `INSERT INTO network.ports (id, network_id, project_id, name, description, mac_address, admin_state_up, device_id, device_owner,
             binding_host_id, port_security_enabled) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
          [id, network.id, spec.projectId, spec.name ?? '', spec.description ?? '', mac, spec.adminStateUp ?? true, spec.deviceId ?? '',
            spec.deviceOwner ?? '', spec.hostId ?? '', portSecurity],
        );
        await m.query('RELEASE SAVEPOINT insert_port');
        return mac;
      } catch (error) {
        await m.query('ROLLBACK TO SAVEPOINT insert_port');
        if (!isUniqueViolation(error, 'ports_mac')) throw error;
        if (spec.macAddress) throw conflict('MacAddressInUse', `Unable to complete operation for network ${network.id}. The mac address ${mac} is in use.`);
        if (attempt >= MAC_TRIES) throw conflict('MacAddressGenerationFailure', `Unable to generate unique mac on network ${network.id}.`);
      }
    }
  }

  /** The groups a port may hold: the port's project's own (admins: any), none without port security. */
  private async securityGroups(m: EntityManager, caller: NeutronCaller, projectId: string, portSecurity: boolean, ids: string[]): Promise<string[]> {
    if (!portSecurity && ids.length) {
      throw badRequest('Port has security group associated. Cannot disable port security or IP address until security group is removed', 'security_groups');
    }
    for (const id of ids) {
      const group = await this.groups.visible(m, caller, id);
      if (group.project_id !== projectId && !caller.isAdmin) throw NOT_FOUND.securityGroup(id);
    }
    return ids;
  }

  private async setGroups(m: EntityManager, portId: string, groups: string[]): Promise<void> {
    await m.query(`DELETE FROM network.port_security_groups WHERE port_id = $1`, [portId]);
    for (const g of groups) {
      try {
        await m.query(`INSERT INTO network.port_security_groups (port_id, security_group_id) VALUES ($1, $2)`, [portId, g]);
      } catch (error) {
        // The group went away since we looked (its delete holds its row until commit).
        if ((error as { driverError?: { code?: string } }).driverError?.code === '23503') throw NOT_FOUND.securityGroup(g);
        throw error;
      }
    }
  }

  async update(caller: NeutronCaller, id: string, body: unknown): Promise<NeutronResource> {
    const u: PortFields = parsePortUpdate(body, caller);
    await this.db.transaction(async (m) => {
      const current = await this.visible(m, caller, id);
      if (current.project_id !== caller.projectId && !caller.isAdmin) throw NOT_FOUND.port(id);
      await this.networks.visible(m, { isAdmin: true, projectId: caller.projectId }, current.network_id, true);
      const port = await this.visible(m, caller, id, true);
      const portSecurity = u.portSecurity ?? port.port_security_enabled;
      const groups = u.securityGroups ?? (portSecurity ? port.security_groups : []);
      if (u.portSecurity === false && u.securityGroups === undefined && port.security_groups.length) {
        throw badRequest('Port has security group associated. Cannot disable port security or IP address until security group is removed', 'port_security_enabled');
      }
      await this.securityGroups(m, caller, port.project_id, portSecurity, groups);
      const mac = u.macAddress ?? port.mac_address;
      const pairs = (u.addressPairs ?? port.allowed_address_pairs).map((p) => ({ ...p, mac_address: p.mac_address ?? mac }));
      if (!portSecurity && pairs.length) throw addressPairsNeedPortSecurity();
      try {
        await m.query(
          `UPDATE network.ports SET name = coalesce($2, name), description = coalesce($3, description), admin_state_up = coalesce($4, admin_state_up),
             device_id = coalesce($5, device_id), device_owner = coalesce($6, device_owner), binding_host_id = coalesce($7, binding_host_id),
             port_security_enabled = $8, allowed_address_pairs = $9, mac_address = $10, updated_at = now(), revision_number = revision_number + 1
           WHERE id = $1`,
          [id, u.name, u.description, u.adminStateUp, u.deviceId, u.deviceOwner, u.hostId, portSecurity, JSON.stringify(pairs), mac],
        );
      } catch (error) {
        if (isUniqueViolation(error, 'ports_mac')) throw conflict('MacAddressInUse', `Unable to complete operation for network ${port.network_id}. The mac address ${mac} is in use.`);
        throw error;
      }
      if (u.fixedIps !== undefined) {
        await m.query(`DELETE FROM network.ip_allocations WHERE port_id = $1`, [id]);
        await allocateAddresses(m, { networkId: port.network_id, portId: id, requests: u.fixedIps, deviceOwner: u.deviceOwner ?? port.device_owner });
      }
      await this.setGroups(m, id, groups);
    });
    return this.show(caller, id, {});
  }

  /** Deleting a port frees its addresses (ip_allocations go with it). */
  async delete(caller: NeutronCaller, id: string): Promise<void> {
    const port = await this.visible(this.db.manager, caller, id);
    if (port.project_id !== caller.projectId && !caller.isAdmin) throw NOT_FOUND.port(id);
    await refuseL3PortDelete(this.db.manager, port);
    await this.db.query(`DELETE FROM network.ports WHERE id = $1`, [id]);
  }
}

function addressPairsNeedPortSecurity() {
  return conflict('AddressPairAndPortSecurityRequired', 'Port Security must be enabled in order to have allowed address pairs on a port.');
}

function view(r: PortRow, caller: NeutronCaller): NeutronResource {
  const out: NeutronResource = {
    id: r.id,
    name: r.name,
    network_id: r.network_id,
    tenant_id: r.project_id,
    project_id: r.project_id,
    mac_address: r.mac_address,
    admin_state_up: r.admin_state_up,
    status: r.status,
    device_id: r.device_id,
    device_owner: r.device_owner,
    fixed_ips: r.fixed_ips,
    allowed_address_pairs: r.allowed_address_pairs,
    extra_dhcp_opts: [],
    security_groups: r.security_groups,
    port_security_enabled: r.port_security_enabled,
    description: r.description,
    'binding:vnic_type': 'normal',
    ip_allocation: 'immediate',
    tags: [],
    created_at: isoTime(r.created_at),
    updated_at: isoTime(r.updated_at),
    revision_number: r.revision_number,
  };
  if (caller.isAdmin) {
    out['binding:host_id'] = r.binding_host_id;
    out['binding:profile'] = {};
    out['binding:vif_type'] = r.binding_host_id ? 'bridge' : 'unbound';
    out['binding:vif_details'] = {};
  }
  return out;
}
