/**
 * Nova 2.1's `networks` of a server create, as novaclient/openstackclient send it: "auto" or "none"
 * (no NIC: the servers of before), or a list of `{uuid}`, `{uuid, fixed_ip}`, `{port}`
 * (`--network N`, `--nic net-id=N,v4-fixed-ip=A`, `--port P`). Shapes only: whether the network or
 * port exists is asked of the network service (requested-networks.check.ts).
 */
import { RequestedNetwork, ValidationError } from '@nubo/contracts';
import { isIP } from 'node:net';
import { invalid, isUuid } from '../../common/validation';

/** A guest's NICs are PCI devices: more than this is a mistake, not a server. */
export const MAX_REQUESTED_NETWORKS = 16;

const ITEM_KEYS = ['uuid', 'port', 'fixed_ip'];

/** The networks asked for; [] for absent, "auto", "none" and an empty list (no NIC). */
export function parseRequestedNetworks(value: unknown): RequestedNetwork[] {
  if (value === undefined || value === 'auto' || value === 'none') return [];
  if (!Array.isArray(value)) invalid('networks', value, `${JSON.stringify(value)} is not of type 'array'`);
  const list = value as unknown[];
  if (list.length > MAX_REQUESTED_NETWORKS) invalid('networks', value, `Too many networks: at most ${MAX_REQUESTED_NETWORKS}`);
  const requested = list.map(parseItem);
  const ports = requested.flatMap((r) => (r.portId ? [r.portId] : []));
  const twice = ports.find((p, i) => ports.indexOf(p) !== i);
  if (twice) throw new ValidationError(`Bad networks format: port ${twice} is requested more than once`, 'networks');
  return requested;
}

function parseItem(item: unknown): RequestedNetwork {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) invalid('networks', item, `${JSON.stringify(item)} is not of type 'object'`);
  const entry = item as Record<string, unknown>;
  const extra = Object.keys(entry).filter((k) => !ITEM_KEYS.includes(k));
  if (extra.length) {
    invalid('networks', entry, `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  const { uuid, port, fixed_ip: fixedIp } = entry;
  if (fixedIp !== undefined && (typeof fixedIp !== 'string' || isIP(fixedIp) === 0)) {
    invalid('fixed_ip', fixedIp, `${JSON.stringify(fixedIp)} is not a 'ip-address'`);
  }
  if (port !== undefined && port !== null && (typeof port !== 'string' || !isUuid(port))) {
    invalid('port', port, `${JSON.stringify(port)} is not valid under any of the given schemas`);
  }
  if (uuid !== undefined && typeof uuid !== 'string') invalid('uuid', uuid, `${JSON.stringify(uuid)} is not of type 'string'`);
  if (typeof port === 'string') {
    if (fixedIp !== undefined) {
      throw new ValidationError(`Specified Fixed IP '${fixedIp}' cannot be used with port '${port}': the two cannot be specified together.`, 'fixed_ip');
    }
    // Nova: a port names its network; a uuid beside it is not used.
    return { portId: port.toLowerCase() };
  }
  if (uuid === undefined) throw new ValidationError(`Bad network format: missing 'uuid'`, 'networks');
  if (!isUuid(uuid as string)) throw new ValidationError(`Bad networks format: network uuid is not in proper format (${uuid as string})`, 'uuid');
  return fixedIp === undefined ? { networkId: (uuid as string).toLowerCase() } : { networkId: (uuid as string).toLowerCase(), fixedIp: fixedIp as string };
}
