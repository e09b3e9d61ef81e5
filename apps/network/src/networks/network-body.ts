/** Checks of a network create/update body against Neutron's rules; pure, table-tested. */
import { NeutronCaller } from '@nubo/contracts';
import { badRequest, forbidden, invalidInput } from '../common/neutron-errors';
import { optBool, optInt, optString, resourceBody } from '../common/neutron-query';

export const NETWORK_ATTRS = [
  'name', 'description', 'admin_state_up', 'shared', 'router:external', 'port_security_enabled', 'mtu', 'project_id', 'tenant_id',
  'provider:network_type', 'provider:physical_network', 'provider:segmentation_id', 'availability_zone_hints',
] as const;
const ADMIN_ONLY = ['shared', 'router:external', 'provider:network_type', 'provider:physical_network', 'provider:segmentation_id'];
const NETWORK_TYPES = ['vxlan', 'vlan', 'flat'] as const;
export type NetworkType = (typeof NETWORK_TYPES)[number];
/** MTU of a network type: VXLAN's 50 bytes of encapsulation come off a 1500-byte underlay. */
export const MAX_MTU: Record<NetworkType, number> = { vxlan: 1450, vlan: 1500, flat: 1500 };

export interface NetworkCreate {
  projectId: string;
  name: string;
  description: string;
  adminStateUp: boolean;
  shared: boolean;
  external: boolean;
  portSecurity: boolean;
  networkType: NetworkType;
  physicalNetwork: string | null;
  /** undefined: allocate one from the VNI range. */
  segmentationId: number | null | undefined;
  mtu: number;
}

function policy(body: Record<string, unknown>, caller: NeutronCaller, verb: string): void {
  if (caller.isAdmin) return;
  const denied = ADMIN_ONLY.find((a) => body[a] !== undefined && !(a === 'shared' && body[a] === false) && !(a === 'router:external' && body[a] === false));
  if (denied) throw forbidden(`(rule:${verb}_network:${denied}) is disallowed by policy`);
}

export function parseNetworkCreate(raw: unknown, caller: NeutronCaller): NetworkCreate {
  const body = resourceBody(raw, 'network', NETWORK_ATTRS);
  policy(body, caller, 'create');
  const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id') ?? caller.projectId;
  if (projectId !== caller.projectId && !caller.isAdmin) throw forbidden(`(rule:create_network) is disallowed by policy`);
  const type = body['provider:network_type'] ?? 'vxlan';
  if (!NETWORK_TYPES.includes(type as NetworkType)) throw invalidInput('provider:network_type', `network type ${String(type)} is not supported; use vxlan, vlan or flat`);
  const networkType = type as NetworkType;
  const physicalNetwork = optString(body, 'provider:physical_network') ?? null;
  const segmentationId = optInt(body, 'provider:segmentation_id');
  if (networkType === 'vxlan') {
    if (physicalNetwork) throw invalidInput('provider:physical_network', 'provider:physical_network specified for vxlan network');
    if (segmentationId !== undefined && (segmentationId < 1 || segmentationId > 16_777_215)) {
      throw invalidInput('provider:segmentation_id', `segmentation_id out of range (1 through 16777215)`);
    }
  } else {
    if (!physicalNetwork) throw invalidInput('provider:physical_network', `physical_network required for ${networkType} provider network`);
    if (networkType === 'flat' && segmentationId !== undefined) throw invalidInput('provider:segmentation_id', 'segmentation_id specified for flat provider network');
    if (networkType === 'vlan' && (segmentationId === undefined || segmentationId < 1 || segmentationId > 4094)) {
      throw invalidInput('provider:segmentation_id', 'segmentation_id out of range (1 through 4094)');
    }
  }
  const mtu = optInt(body, 'mtu') ?? MAX_MTU[networkType];
  checkMtu(mtu, networkType);
  return {
    projectId,
    name: optString(body, 'name') ?? '',
    description: optString(body, 'description') ?? '',
    adminStateUp: optBool(body, 'admin_state_up') ?? true,
    shared: optBool(body, 'shared') ?? false,
    external: optBool(body, 'router:external') ?? false,
    portSecurity: optBool(body, 'port_security_enabled') ?? true,
    networkType,
    physicalNetwork,
    segmentationId: networkType === 'flat' ? null : segmentationId,
    mtu,
  };
}

function checkMtu(mtu: number, type: NetworkType): void {
  if (mtu < 68 || mtu > MAX_MTU[type]) {
    throw invalidInput('mtu', `Requested MTU is too big, maximum is ${MAX_MTU[type]}`.replace('too big', mtu < 68 ? 'too small' : 'too big'));
  }
}

export interface NetworkUpdate {
  name?: string;
  description?: string;
  adminStateUp?: boolean;
  shared?: boolean;
  external?: boolean;
  portSecurity?: boolean;
  mtu?: number;
}

export function parseNetworkUpdate(raw: unknown, caller: NeutronCaller, type: NetworkType): NetworkUpdate {
  const body = resourceBody(raw, 'network', NETWORK_ATTRS);
  const readOnly = ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id', 'project_id', 'tenant_id'].find((a) => body[a] !== undefined);
  if (readOnly) throw badRequest(`Cannot update read-only attribute ${readOnly}`, readOnly);
  policy(body, caller, 'update');
  const mtu = optInt(body, 'mtu');
  if (mtu !== undefined) checkMtu(mtu, type);
  return {
    name: optString(body, 'name'),
    description: optString(body, 'description'),
    adminStateUp: optBool(body, 'admin_state_up'),
    shared: optBool(body, 'shared'),
    external: optBool(body, 'router:external'),
    portSecurity: optBool(body, 'port_security_enabled'),
    mtu,
  };
}
