/**
 * The body of POST /servers/{id}/os-interface, checked like Nova's schema (interfaceAttachment
 * with net_id or port_id, fixed_ips [{ip_address}] at most one, nothing else): 400 naming the
 * field. Nubo asks for exactly one of port_id and net_id (Nova would pick a network by itself).
 */
import { isIP } from 'node:net';
import { invalid, isUuid, onlyKeys, requireObject } from '../../common/validation';

export type InterfaceAttachBody = { portId: string } | { networkId: string; fixedIp?: string };

export function parseInterfaceAttach(body: unknown): InterfaceAttachBody {
  const root = requireObject(body, 'body');
  const attachment = requireObject(root.interfaceAttachment, 'interfaceAttachment');
  onlyKeys(attachment, 'interfaceAttachment', ['port_id', 'net_id', 'fixed_ips', 'tag']);
  if (attachment.tag !== undefined) invalid('tag', attachment.tag, 'tag needs microversion 2.49 or later; this cloud speaks 2.1');
  const portId = attachment.port_id;
  const netId = attachment.net_id;
  if (portId !== undefined && netId !== undefined) invalid('port_id', portId, 'Must not input both network_id and port_id');
  if (portId === undefined && netId === undefined) invalid('port_id', portId, "One of 'port_id' and 'net_id' is required");
  if (portId !== undefined) {
    if (typeof portId !== 'string' || !isUuid(portId)) invalid('port_id', portId, `${JSON.stringify(portId)} is not a 'uuid'`);
    if (attachment.fixed_ips !== undefined) invalid('fixed_ips', attachment.fixed_ips, 'fixed_ips goes with net_id, not port_id');
    return { portId };
  }
  if (typeof netId !== 'string' || !isUuid(netId)) invalid('net_id', netId, `${JSON.stringify(netId)} is not a 'uuid'`);
  const fixedIp = parseFixedIps(attachment.fixed_ips);
  return fixedIp ? { networkId: netId, fixedIp } : { networkId: netId };
}

function parseFixedIps(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) invalid('fixed_ips', value, `${JSON.stringify(value)} is not of type 'array'`);
  if (value.length > 1) invalid('fixed_ips', value, 'is too long (at most 1 item)');
  if (value.length === 0) return undefined;
  const entry = requireObject(value[0], 'fixed_ips');
  onlyKeys(entry, 'fixed_ips', ['ip_address']);
  const ip = entry.ip_address;
  if (typeof ip !== 'string' || isIP(ip) === 0) invalid('ip_address', ip, `${JSON.stringify(ip)} is not a 'ip-address'`);
  return ip;
}
