/**
 * add_router_interface / remove_router_interface: a subnet joins a router through a
 * network:router_interface port holding the subnet's gateway_ip (or through a port the caller
 * made). The router's row lock makes one router's interface changes take turns; the network's row
 * lock and ip_allocations' key settle two routers asking for one gateway address (409).
 */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronResource } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { cidrsOverlap, parseCidrLoose, parseIp } from '../common/ipv4';
import { NOT_FOUND, badRequest, conflict, notFound } from '../common/neutron-errors';
import { isUuid } from '../common/neutron-query';
import { L3Changes, createL3Port } from './l3-store';
import { InterfaceRequest, parseInterfaceRequest } from './router-body';
import { RouterRow, RoutersService } from './routers.service';

interface SubnetRow {
  id: string;
  network_id: string;
  cidr: string;
  gateway_ip: string | null;
}
interface RouterSubnet extends SubnetRow {
  port_id: string;
}

const badRouter = (message: string, field: string) => badRequest(`Bad router request: ${message}`, field);

@Injectable()
export class RouterInterfacesService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RoutersService) private readonly routers: RoutersService,
    @Inject(L3Changes) private readonly changes: L3Changes,
  ) {}

  async add(caller: NeutronCaller, routerId: string, body: unknown): Promise<NeutronResource> {
    const request = parseInterfaceRequest(body);
    const info = await this.db.transaction(async (m) => {
      const router = await this.routers.visible(m, caller, routerId, true);
      return request.subnetId ? this.addSubnet(m, caller, router, request.subnetId) : this.addPort(m, caller, router, request.portId!);
    });
    this.changes.notify();
    return info;
  }

  private async addSubnet(m: EntityManager, caller: NeutronCaller, router: RouterRow, subnetId: string): Promise<NeutronResource> {
    const subnet = await this.subnet(m, caller, subnetId);
    if (!subnet.gateway_ip) throw badRouter('Subnet for router interface must have a gateway IP.', 'subnet_id');
    await this.checkOverlap(m, router.id, [subnet]);
    const port = await createL3Port(m, {
      networkId: subnet.network_id,
      projectId: router.project_id,
      deviceId: router.id,
      deviceOwner: 'network:router_interface',
      fixedIps: [{ subnetId, ipAddress: parseIp(subnet.gateway_ip)! }],
    });
    return interfaceInfo(router, port.id, subnet);
  }

  /** A port of the caller's, free of any device, with exactly one IPv4 subnet. */
  private async addPort(m: EntityManager, caller: NeutronCaller, router: RouterRow, portId: string): Promise<NeutronResource> {
    const [port] = await m.query(
      `SELECT p.id, p.network_id, p.project_id, p.device_id, p.device_owner FROM network.ports p WHERE p.id = $1 AND ($2::boolean OR p.project_id = $3) FOR UPDATE`,
      [portId, caller.isAdmin, caller.projectId],
    );
    if (!port) throw NOT_FOUND.port(portId);
    if (port.device_id || port.device_owner) {
      throw conflict('PortInUse', `Unable to complete operation on port ${portId} for network ${port.network_id}. Port already has an attached device ${port.device_id}.`);
    }
    const subnets: SubnetRow[] = await m.query(
      `SELECT DISTINCT s.id, s.network_id, s.cidr::text AS cidr, host(s.gateway_ip) AS gateway_ip
         FROM network.ip_allocations a JOIN network.subnets s ON s.id = a.subnet_id WHERE a.port_id = $1`,
      [portId],
    );
    if (!subnets.length) throw badRouter('Router port must have at least one fixed IP.', 'port_id');
    if (subnets.length > 1) throw badRouter('Cannot have multiple IPv4 subnets on router port.', 'port_id');
    await this.checkOverlap(m, router.id, subnets);
    await m.query(
      `UPDATE network.ports SET device_id = $2, device_owner = 'network:router_interface', status = 'ACTIVE', updated_at = now(),
         revision_number = revision_number + 1 WHERE id = $1`,
      [portId, router.id],
    );
    return interfaceInfo(router, portId, subnets[0]);
  }

  async remove(caller: NeutronCaller, routerId: string, body: unknown): Promise<NeutronResource> {
    const request: InterfaceRequest = parseInterfaceRequest(body);
    const info = await this.db.transaction(async (m) => {
      const router = await this.routers.visible(m, caller, routerId, true);
      const attached = await this.routerSubnets(m, router.id);
      const found = request.subnetId ? attached.find((s) => s.id === request.subnetId) : attached.find((s) => s.port_id === request.portId);
      if (!found) {
        if (request.subnetId) {
          await this.subnet(m, caller, request.subnetId);
          throw notFound('RouterInterfaceNotFoundForSubnet', `Router ${router.id} has no interface on subnet ${request.subnetId}`);
        }
        throw notFound('RouterInterfaceNotFound', `Router ${router.id} does not have an interface with id ${request.portId}`);
      }
      const [fip] = await m.query(
        `SELECT 1 FROM network.floating_ips WHERE router_id = $1 AND fixed_ip_address << $2::cidr LIMIT 1`,
        [router.id, found.cidr],
      );
      if (fip) {
        throw conflict(
          'RouterInterfaceInUseByFloatingIP',
          `Router interface for subnet ${found.id} on router ${router.id} cannot be deleted, as it is required by one or more floating IPs.`,
        );
      }
      await m.query(`DELETE FROM network.ports WHERE id = $1`, [found.port_id]);
      return interfaceInfo(router, found.port_id, found);
    });
    this.changes.notify();
    return info;
  }

  /** The subnet if the caller may use it: its project's, on a network of its own or shared (admins: any). */
  private async subnet(m: EntityManager, caller: NeutronCaller, id: string): Promise<SubnetRow> {
    if (!isUuid(id)) throw NOT_FOUND.subnet(id);
    const [row] = await m.query(
      `SELECT s.id, s.network_id, s.cidr::text AS cidr, host(s.gateway_ip) AS gateway_ip
         FROM network.subnets s JOIN network.networks n ON n.id = s.network_id
        WHERE s.id = $3 AND ($1::boolean OR s.project_id = $2 OR n.project_id = $2 OR n.shared)`,
      [caller.isAdmin, caller.projectId, id],
    );
    if (!row) throw NOT_FOUND.subnet(id);
    return row;
  }

  private routerSubnets(m: EntityManager, routerId: string): Promise<RouterSubnet[]> {
    return m.query(
      `SELECT s.id, s.network_id, s.cidr::text AS cidr, host(s.gateway_ip) AS gateway_ip, p.id AS port_id
         FROM network.ports p JOIN network.ip_allocations a ON a.port_id = p.id JOIN network.subnets s ON s.id = a.subnet_id
        WHERE p.device_id = $1 AND p.device_owner = 'network:router_interface' ORDER BY p.created_at, s.id`,
      [routerId],
    );
  }

  /** Neutron refuses a subnet already on the router (400) and one overlapping another of its subnets. */
  private async checkOverlap(m: EntityManager, routerId: string, adding: SubnetRow[]): Promise<void> {
    const attached = await this.routerSubnets(m, routerId);
    for (const s of adding) {
      if (attached.some((a) => a.id === s.id)) throw badRouter(`Router already has a port on subnet ${s.id}.`, 'subnet_id');
      const mine = cidrOf(s.cidr);
      const other = attached.find((a) => cidrsOverlap(cidrOf(a.cidr), mine));
      if (other) throw badRouter(`Cidr ${s.cidr} of subnet ${s.id} overlaps with cidr ${other.cidr} of subnet ${other.id}.`, 'subnet_id');
    }
  }
}

function cidrOf(text: string) {
  const c = parseCidrLoose(text)!;
  return { network: c.address, prefix: c.prefix };
}

/** Neutron's answer to both interface calls. */
function interfaceInfo(router: RouterRow, portId: string, subnet: SubnetRow): NeutronResource {
  return {
    id: router.id,
    tenant_id: router.project_id,
    project_id: router.project_id,
    port_id: portId,
    network_id: subnet.network_id,
    subnet_id: subnet.id,
    subnet_ids: [subnet.id],
  };
}
