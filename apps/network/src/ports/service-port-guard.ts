/**
 * Neutron refuses DELETE /v2.0/ports/{id} for the ports an L3 resource owns (a router's interface
 * or gateway, a floating IP's port) while that router or floating IP exists: they go with it, or
 * through remove_router_interface. Neutron's `prevent_l3_port_deletion` raises ServicePortInUse
 * ("... cannot be deleted directly via the port API: has device owner X."), a 409.
 */
import { EntityManager } from 'typeorm';
import { conflict } from '../common/neutron-errors';

const ROUTER_OWNERS = new Set(['network:router_interface', 'network:router_gateway']);
const FLOATING_IP_OWNER = 'network:floatingip';

export interface OwnedPort {
  id: string;
  device_id: string;
  device_owner: string;
}

/** Which table holds the port's owner, if its device_owner is an L3 one. Pure. */
export function l3OwnerTable(deviceOwner: string): 'network.routers' | 'network.floating_ips' | undefined {
  if (ROUTER_OWNERS.has(deviceOwner)) return 'network.routers';
  return deviceOwner === FLOATING_IP_OWNER ? 'network.floating_ips' : undefined;
}

export function servicePortInUse(port: OwnedPort) {
  return conflict('ServicePortInUse', `Port ${port.id} cannot be deleted directly via the port API: has device owner ${port.device_owner}.`);
}

/** Throws 409 ServicePortInUse when an existing router or floating IP owns the port (an orphan may go). */
export async function refuseL3PortDelete(m: EntityManager, port: OwnedPort): Promise<void> {
  const table = l3OwnerTable(port.device_owner);
  if (!table) return;
  const owner = /^[0-9a-f-]{36}$/i.test(port.device_id) ? await m.query(`SELECT 1 FROM ${table} WHERE id = $1`, [port.device_id]) : [];
  if (owner.length) throw servicePortInUse(port);
}
