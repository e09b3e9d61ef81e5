/** Neutron router request bodies: create, update, add/remove_router_interface. Pure. */
import { NeutronCaller } from '@nubo/contracts';
import { parseIp } from '../common/ipv4';
import { badRequest, forbidden, invalidInput } from '../common/neutron-errors';
import { isUuid, optBool, optString, resourceBody } from '../common/neutron-query';

const ROUTER_ATTRS = [
  'name', 'description', 'admin_state_up', 'external_gateway_info', 'project_id', 'tenant_id',
  'distributed', 'ha', 'availability_zone_hints', 'routes', 'flavor_id',
] as const;

export interface GatewayFixedIp {
  subnetId?: string;
  ipAddress?: number;
}
/** `null`: clear the gateway (`{}` or `null` as Neutron takes both). */
export interface GatewayInfo {
  networkId: string;
  enableSnat?: boolean;
  fixedIps?: GatewayFixedIp[];
}
export interface RouterFields {
  name?: string;
  description?: string;
  adminStateUp?: boolean;
  gateway?: GatewayInfo | null;
}
export interface RouterCreate extends RouterFields {
  projectId: string;
}
export type InterfaceRequest = { subnetId: string; portId?: undefined } | { portId: string; subnetId?: undefined };

function parseGateway(raw: unknown, caller: NeutronCaller, action: 'create' | 'update'): GatewayInfo | null {
  if (raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalidInput('external_gateway_info', `'${JSON.stringify(raw)}' is not a dictionary`);
  const g = raw as Record<string, unknown>;
  if (Object.keys(g).length === 0) return null;
  const unknown = Object.keys(g).filter((k) => !['network_id', 'enable_snat', 'external_fixed_ips', 'qos_policy_id'].includes(k));
  if (unknown.length) throw invalidInput('external_gateway_info', `Unexpected keys supplied: ${unknown.join(', ')}`);
  if (g.qos_policy_id !== undefined && g.qos_policy_id !== null) throw invalidInput('external_gateway_info', 'QoS policies are not supported');
  if (!isUuid(g.network_id)) {
    throw g.network_id === undefined
      ? invalidInput('external_gateway_info', "Validation of dictionary's keys failed. Expected keys: {'network_id'}")
      : invalidInput('external_gateway_info', `'${String(g.network_id)}' is not a valid UUID`);
  }
  // Neutron's policy: only admins choose SNAT and the gateway's addresses.
  for (const [key, value] of [['enable_snat', g.enable_snat], ['external_fixed_ips', g.external_fixed_ips]] as const) {
    if (value !== undefined && !caller.isAdmin) throw forbidden(`(rule:${action}_router:external_gateway_info:${key}) is disallowed by policy`);
  }
  const enableSnat = optBool(g, 'enable_snat');
  let fixedIps: GatewayFixedIp[] | undefined;
  if (g.external_fixed_ips !== undefined) {
    if (!Array.isArray(g.external_fixed_ips)) throw invalidInput('external_gateway_info', `'${JSON.stringify(g.external_fixed_ips)}' is not a list`);
    fixedIps = g.external_fixed_ips.map((e: Record<string, unknown> | null) => {
      if (!e || typeof e !== 'object') throw invalidInput('external_gateway_info', `'${JSON.stringify(e)}' is not a dictionary`);
      if (e.subnet_id !== undefined && !isUuid(e.subnet_id)) throw invalidInput('external_gateway_info', `'${String(e.subnet_id)}' is not a valid UUID`);
      const ipAddress = e.ip_address === undefined ? undefined : parseIp(e.ip_address);
      if (e.ip_address !== undefined && ipAddress === undefined) throw invalidInput('external_gateway_info', `'${String(e.ip_address)}' is not a valid IP address`);
      return { subnetId: e.subnet_id as string | undefined, ipAddress };
    });
    if (fixedIps.length > 1) throw badRequest('Bad router request: Only one external fixed IP is supported (IPv4).', 'external_gateway_info');
  }
  return { networkId: g.network_id, enableSnat, fixedIps };
}

function parseFields(body: Record<string, unknown>, caller: NeutronCaller, action: 'create' | 'update'): RouterFields {
  // Only the centralized, non-HA legacy router exists here.
  for (const flag of ['distributed', 'ha'] as const) {
    if (body[flag] !== undefined) {
      if (!caller.isAdmin) throw forbidden(`(rule:${action}_router:${flag}) is disallowed by policy`);
      if (optBool(body, flag)) throw invalidInput(flag, `${flag} routers are not supported`);
    }
  }
  const hints = body.availability_zone_hints;
  if (hints !== undefined && !(Array.isArray(hints) && hints.every((h) => h === 'nova'))) {
    throw invalidInput('availability_zone_hints', `'${JSON.stringify(hints)}' names an unknown availability zone`);
  }
  if (body.routes !== undefined && !(Array.isArray(body.routes) && body.routes.length === 0)) throw invalidInput('routes', 'extra routes are not supported');
  if (body.flavor_id !== undefined && body.flavor_id !== null) throw invalidInput('flavor_id', 'router flavors are not supported');
  return {
    name: optString(body, 'name'),
    description: optString(body, 'description'),
    adminStateUp: optBool(body, 'admin_state_up'),
    gateway: body.external_gateway_info === undefined ? undefined : parseGateway(body.external_gateway_info, caller, action),
  };
}

export function parseRouterCreate(raw: unknown, caller: NeutronCaller): RouterCreate {
  const body = resourceBody(raw, 'router', ROUTER_ATTRS);
  const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id') ?? caller.projectId;
  if (projectId !== caller.projectId && !caller.isAdmin) throw forbidden('(rule:create_router) is disallowed by policy');
  return { projectId, ...parseFields(body, caller, 'create') };
}

export function parseRouterUpdate(raw: unknown, caller: NeutronCaller): RouterFields {
  const body = resourceBody(raw, 'router', ROUTER_ATTRS);
  const readOnly = ['project_id', 'tenant_id'].find((a) => body[a] !== undefined);
  if (readOnly) throw badRequest(`Cannot update read-only attribute ${readOnly}`, readOnly);
  return parseFields(body, caller, 'update');
}

/** `{subnet_id}` or `{port_id}`, exactly one (Neutron: "Either subnet_id or port_id must be specified"). */
export function parseInterfaceRequest(raw: unknown): InterfaceRequest {
  const body = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
  if (!body) throw badRequest('Bad router request: Either subnet_id or port_id must be specified.', 'subnet_id');
  const unknown = Object.keys(body).filter((k) => k !== 'subnet_id' && k !== 'port_id');
  if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`, unknown[0]);
  const { subnet_id: subnetId, port_id: portId } = body;
  if (subnetId !== undefined && portId !== undefined) throw badRequest('Bad router request: Cannot specify both subnet-id and port-id.', 'port_id');
  if (portId !== undefined) {
    if (!isUuid(portId)) throw invalidInput('port_id', `'${String(portId)}' is not a valid UUID`);
    return { portId };
  }
  if (subnetId === undefined) throw badRequest('Bad router request: Either subnet_id or port_id must be specified.', 'subnet_id');
  if (!isUuid(subnetId)) throw invalidInput('subnet_id', `'${String(subnetId)}' is not a valid UUID`);
  return { subnetId };
}
