/** Checks of a port body: MAC, fixed IPs as asked, security groups, address pairs. Pure, table-tested. */
import { NeutronCaller } from '@nubo/contracts';
import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import { parseIp } from '../common/ipv4';
import { badRequest, forbidden, invalidInput } from '../common/neutron-errors';
import { isUuid, optBool, optString, resourceBody } from '../common/neutron-query';

export const PORT_ATTRS = [
  'name', 'description', 'network_id', 'project_id', 'tenant_id', 'admin_state_up', 'mac_address', 'fixed_ips', 'device_id', 'device_owner',
  'binding:host_id', 'binding:vnic_type', 'binding:profile', 'security_groups', 'port_security_enabled', 'allowed_address_pairs',
] as const;

/** One requested address: a subnet (any free address of it), an address, or both. */
export interface FixedIpRequest {
  subnetId?: string;
  ipAddress?: number;
}
export interface AddressPair {
  ip_address: string;
  mac_address?: string;
}
export interface PortFields {
  name?: string;
  description?: string;
  adminStateUp?: boolean;
  macAddress?: string;
  fixedIps?: FixedIpRequest[];
  deviceId?: string;
  deviceOwner?: string;
  hostId?: string;
  securityGroups?: string[];
  portSecurity?: boolean;
  addressPairs?: AddressPair[];
}
export interface PortCreate extends PortFields {
  networkId: string;
  projectId: string;
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** Neutron's base MAC fa:16:3e with three random bytes. */
export function randomMac(): string {
  return ['fa', '16', '3e', ...[0, 1, 2].map(() => randomInt(256).toString(16).padStart(2, '0'))].join(':');
}

function parseMac(raw: unknown, field: string): string {
  const mac = typeof raw === 'string' ? raw.toLowerCase().replace(/-/g, ':') : '';
  // Unicast only: the multicast bit of the first byte must be clear; all zeros is no address.
  if (!MAC.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === '00:00:00:00:00:00') {
    throw invalidInput(field, `'${String(raw)}' is not a valid MAC address`);
  }
  return mac;
}

export function parseFixedIps(raw: unknown): FixedIpRequest[] {
  if (!Array.isArray(raw)) throw invalidInput('fixed_ips', `'${JSON.stringify(raw)}' is not a list`);
  return raw.map((entry: { subnet_id?: unknown; ip_address?: unknown } | null) => {
    if (!entry || typeof entry !== 'object') throw invalidInput('fixed_ips', `'${JSON.stringify(entry)}' is not a dictionary`);
    const unknown = Object.keys(entry).filter((k) => k !== 'subnet_id' && k !== 'ip_address');
    if (unknown.length) throw invalidInput('fixed_ips', `Unrecognized attribute(s) '${unknown.join(', ')}'`);
    if (entry.subnet_id === undefined && entry.ip_address === undefined) throw invalidInput('fixed_ips', 'subnet_id or ip_address is required');
    if (entry.subnet_id !== undefined && !isUuid(entry.subnet_id)) throw invalidInput('fixed_ips', `'${String(entry.subnet_id)}' is not a valid UUID`);
    let ipAddress: number | undefined;
    if (entry.ip_address !== undefined) {
      ipAddress = parseIp(entry.ip_address);
      if (ipAddress === undefined) {
        throw isIP(String(entry.ip_address)) === 6
          ? invalidInput('fixed_ips', 'IPv6 addresses are not supported yet')
          : invalidInput('fixed_ips', `'${String(entry.ip_address)}' is not a valid IP address`);
      }
    }
    return { subnetId: entry.subnet_id as string | undefined, ipAddress };
  });
}

function parseAddressPairs(raw: unknown): AddressPair[] {
  if (!Array.isArray(raw)) throw invalidInput('allowed_address_pairs', `'${JSON.stringify(raw)}' is not a list`);
  const pairs = raw.map((p: { ip_address?: unknown; mac_address?: unknown } | null) => {
    if (!p || typeof p !== 'object' || typeof p.ip_address !== 'string') throw badRequest('AllowedAddressPair must contain ip_address', 'allowed_address_pairs');
    const [address, len, ...rest] = p.ip_address.split('/');
    const version = isIP(address);
    if (!version || rest.length || (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > (version === 4 ? 32 : 128)))) {
      throw invalidInput('allowed_address_pairs', `'${p.ip_address}' is not a valid IP address or subnet`);
    }
    return { ip_address: p.ip_address, ...(p.mac_address !== undefined ? { mac_address: parseMac(p.mac_address, 'allowed_address_pairs') } : {}) };
  });
  const keys = pairs.map((p) => `${p.ip_address}|${p.mac_address ?? ''}`);
  if (keys.some((k, i) => keys.indexOf(k) !== i)) throw badRequest('Request contains duplicate address pair', 'allowed_address_pairs');
  return pairs;
}

function parseGroups(raw: unknown): string[] {
  if (!Array.isArray(raw)) throw invalidInput('security_groups', `'${JSON.stringify(raw)}' is not a list`);
  raw.forEach((g) => {
    if (!isUuid(g)) throw invalidInput('security_groups', `'${String(g)}' is not a valid UUID`);
  });
  return [...new Set(raw as string[])];
}

function parseFields(body: Record<string, unknown>, caller: NeutronCaller): PortFields {
  for (const a of ['binding:host_id', 'binding:profile'] as const) {
    if (body[a] !== undefined && !caller.isAdmin) throw forbidden(`(rule:create_port:${a}) is disallowed by policy`);
  }
  if (body['binding:vnic_type'] !== undefined && body['binding:vnic_type'] !== 'normal') {
    throw invalidInput('binding:vnic_type', `'${String(body['binding:vnic_type'])}' is not supported; only 'normal'`);
  }
  const profile = body['binding:profile'];
  if (profile !== undefined && !(profile && typeof profile === 'object' && Object.keys(profile).length === 0)) {
    throw invalidInput('binding:profile', 'binding profiles are not supported');
  }
  return {
    name: optString(body, 'name'),
    description: optString(body, 'description'),
    adminStateUp: optBool(body, 'admin_state_up'),
    macAddress: body.mac_address === undefined ? undefined : parseMac(body.mac_address, 'mac_address'),
    fixedIps: body.fixed_ips === undefined ? undefined : parseFixedIps(body.fixed_ips),
    deviceId: optString(body, 'device_id'),
    deviceOwner: optString(body, 'device_owner'),
    hostId: optString(body, 'binding:host_id'),
    securityGroups: body.security_groups === undefined ? undefined : parseGroups(body.security_groups ?? []),
    portSecurity: optBool(body, 'port_security_enabled'),
    addressPairs: body.allowed_address_pairs === undefined ? undefined : parseAddressPairs(body.allowed_address_pairs ?? []),
  };
}

export function parsePortCreate(raw: unknown, caller: NeutronCaller): PortCreate {
  const body = resourceBody(raw, 'port', PORT_ATTRS);
  if (!isUuid(body.network_id)) {
    throw body.network_id === undefined
      ? badRequest(`Failed to parse request. Required attribute 'network_id' not specified`, 'network_id')
      : invalidInput('network_id', `'${String(body.network_id)}' is not a valid UUID`);
  }
  const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id') ?? caller.projectId;
  if (projectId !== caller.projectId && !caller.isAdmin) throw forbidden('(rule:create_port) is disallowed by policy');
  return { networkId: body.network_id, projectId, ...parseFields(body, caller) };
}

export function parsePortUpdate(raw: unknown, caller: NeutronCaller): PortFields {
  const body = resourceBody(raw, 'port', PORT_ATTRS);
  const readOnly = ['network_id', 'project_id', 'tenant_id'].find((a) => body[a] !== undefined);
  if (readOnly) throw badRequest(`Cannot update read-only attribute ${readOnly}`, readOnly);
  if (body.mac_address !== undefined && !caller.isAdmin) throw forbidden('(rule:update_port:mac_address) is disallowed by policy');
  return parseFields(body, caller);
}
