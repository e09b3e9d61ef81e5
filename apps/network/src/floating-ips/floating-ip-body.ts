/** Neutron floating IP request bodies. Pure. */
import { NeutronCaller } from '@nubo/contracts';
import { parseIp } from '../common/ipv4';
import { badRequest, forbidden, invalidInput } from '../common/neutron-errors';
import { isUuid, optString, resourceBody } from '../common/neutron-query';

const CREATE_ATTRS = [
  'floating_network_id', 'floating_ip_address', 'subnet_id', 'port_id', 'fixed_ip_address', 'description',
  'project_id', 'tenant_id', 'qos_policy_id', 'dns_domain', 'dns_name',
] as const;
const UPDATE_ATTRS = ['port_id', 'fixed_ip_address', 'description', 'qos_policy_id'] as const;

export interface FloatingIpAssociation {
  /** null: disassociate. */
  portId: string | null;
  fixedIp?: number;
}
export interface FloatingIpCreate {
  projectId: string;
  networkId: string;
  address?: number;
  subnetId?: string;
  description?: string;
  association?: { portId: string; fixedIp?: number };
}
export interface FloatingIpUpdate {
  description?: string;
  /** Absent: unchanged. A fixed IP alone re-associates the current port. */
  association?: { portId: string | null | undefined; fixedIp?: number };
}

function optUuid(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (!isUuid(v)) throw invalidInput(field, `'${String(v)}' is not a valid UUID`);
  return v;
}

function optAddress(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  const ip = parseIp(v);
  if (ip === undefined) throw invalidInput(field, `'${String(v)}' is not a valid IP address`);
  return ip;
}

function unsupported(body: Record<string, unknown>): void {
  if (body.qos_policy_id !== undefined && body.qos_policy_id !== null) throw invalidInput('qos_policy_id', 'QoS policies are not supported');
  for (const f of ['dns_domain', 'dns_name'] as const) {
    if (body[f] !== undefined && body[f] !== '') throw invalidInput(f, 'DNS integration is not supported');
  }
}

export function parseFloatingIpCreate(raw: unknown, caller: NeutronCaller): FloatingIpCreate {
  const body = resourceBody(raw, 'floatingip', CREATE_ATTRS);
  if (body.floating_network_id === undefined) {
    throw badRequest(`Failed to parse request. Required attribute 'floating_network_id' not specified`, 'floating_network_id');
  }
  const networkId = optUuid(body, 'floating_network_id')!;
  unsupported(body);
  const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id') ?? caller.projectId;
  if (projectId !== caller.projectId && !caller.isAdmin) throw forbidden('(rule:create_floatingip) is disallowed by policy');
  const portId = body.port_id === null ? undefined : optUuid(body, 'port_id');
  const fixedIp = optAddress(body, 'fixed_ip_address');
  if (fixedIp !== undefined && !portId) throw badRequest('fixed_ip_address cannot be specified without a port_id', 'fixed_ip_address');
  return {
    projectId,
    networkId,
    address: optAddress(body, 'floating_ip_address'),
    subnetId: body.subnet_id === null ? undefined : optUuid(body, 'subnet_id'),
    description: optString(body, 'description'),
    association: portId ? { portId, fixedIp } : undefined,
  };
}

export function parseFloatingIpUpdate(raw: unknown): FloatingIpUpdate {
  const body = resourceBody(raw, 'floatingip', UPDATE_ATTRS);
  unsupported(body);
  const portId = body.port_id === null ? null : optUuid(body, 'port_id');
  const fixedIp = optAddress(body, 'fixed_ip_address');
  if (portId === null && fixedIp !== undefined) throw badRequest('fixed_ip_address cannot be specified without a port_id', 'fixed_ip_address');
  const touches = body.port_id !== undefined || fixedIp !== undefined;
  return { description: optString(body, 'description'), association: touches ? { portId, fixedIp } : undefined };
}
