/**
 * Availability zones as Nova derives them: a host's zone is the `availability_zone` of its
 * aggregates, else the default zone "nova"; a zone exists while a compute service (a host) is in
 * it, and is available while one of them is enabled. A server's zone is its host's once placed,
 * else the zone it asked for.
 */
import { ValidationError } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { EntityManager } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { DEFAULT_ZONE, HostRow, loadHosts, serviceStatus } from '../hypervisors/host-inventory';
import { COMPUTE_BINARY } from '../os-services/os-services.controller';
import { requireAdmin } from '../shared/nova-policy';
import { checkNovaName } from '../shared/nova-names';
import { novaTime } from '../shared/nova-time';

export { DEFAULT_ZONE };

type Db = Pick<EntityManager, 'query'>;

export interface ZoneInfo {
  zoneName: string;
  zoneState: { available: boolean };
  hosts: Record<string, Record<string, { available: boolean; active: boolean; updated_at: string | null }>> | null;
}

/** Nova's get_availability_zones: zones with an enabled host, and zones with disabled hosts only. */
export function zonesOf(hosts: HostRow[], now: Date): { available: string[]; unavailable: string[] } {
  const available = new Set<string>();
  const all = new Set<string>();
  for (const h of hosts) {
    all.add(h.zone);
    if (serviceStatus(h, now).status === 'enabled') available.add(h.zone);
  }
  return { available: [...available].sort(), unavailable: [...all].filter((z) => !available.has(z)).sort() };
}

/** GET /os-availability-zone: available zones, then the others, each without hosts. */
export function zoneList(hosts: HostRow[], now: Date): ZoneInfo[] {
  const { available, unavailable } = zonesOf(hosts, now);
  return [
    ...available.map((zoneName) => ({ zoneName, zoneState: { available: true }, hosts: null })),
    ...unavailable.map((zoneName) => ({ zoneName, zoneState: { available: false }, hosts: null })),
  ];
}

/** GET /os-availability-zone/detail: available zones list their enabled hosts' services, as Nova does. */
export function zoneDetail(hosts: HostRow[], now: Date): ZoneInfo[] {
  const { available, unavailable } = zonesOf(hosts, now);
  return [
    ...available.map((zoneName) => {
      const members: NonNullable<ZoneInfo['hosts']> = {};
      for (const h of hosts) {
        const s = serviceStatus(h, now);
        if (h.zone !== zoneName || s.status !== 'enabled') continue;
        members[h.id] = { [COMPUTE_BINARY]: { available: s.state === 'up', active: true, updated_at: novaTime(h.lastHeartbeatAt) } };
      }
      return { zoneName, zoneState: { available: true }, hosts: members };
    }),
    ...unavailable.map((zoneName) => ({ zoneName, zoneState: { available: false }, hosts: null })),
  ];
}

export interface ZoneRequest {
  zone: string | null;
  host: string | null;
  node: string | null;
}

/** Nova's parse_availability_zone: "zone", "zone:host", "zone::node" or "zone:host:node". */
export function parseZoneRequest(raw: string): ZoneRequest {
  const parts = raw.split(':');
  if (parts.length > 3) throw new ValidationError('Invalid input received: Unable to parse availability_zone', 'availability_zone');
  const [zone, host, node] = parts.map((p) => p || null);
  return { zone: zone ?? null, host: host ?? null, node: node ?? null };
}

export interface ServerZone {
  /** What the server keeps as its requested zone (servers.availability_zone). */
  availabilityZone: string | null;
  /** An admin's forced host (servers.forced_host). */
  forcedHost: string | null;
}

/**
 * The zone part of a server create. A forced host (admins only) skips the availability check and
 * keeps the zone only when the host is in it (Nova's _validate_host_availability_zone); a plain
 * zone must be one of the available zones, else 400 with Nova's message.
 */
export async function resolveServerZone(db: Db, value: string | undefined, auth: AuthContext): Promise<ServerZone> {
  if (value === undefined) return { availabilityZone: null, forcedHost: null };
  const request = parseZoneRequest(value);
  const forced = request.host ?? request.node;
  if (forced) {
    requireAdmin(auth, 'os_compute_api:servers:create:forced_host');
    const [host] = await loadHosts(db, { hostId: forced });
    const hostZone = host?.zone ?? DEFAULT_ZONE;
    return { availabilityZone: request.zone === hostZone ? request.zone : null, forcedHost: forced };
  }
  if (request.zone !== null && !zonesOf(await loadHosts(db), new Date()).available.includes(request.zone)) {
    throw new ValidationError('The requested availability zone is not available', 'availability_zone');
  }
  return { availabilityZone: request.zone, forcedHost: null };
}

/** OS-EXT-AZ:availability_zone: the host's zone once placed, else the zone asked for, else "". */
export function serverZone(s: Pick<ServerEntity, 'hostId'> & Partial<Pick<ServerEntity, 'availabilityZone' | 'hostAvailabilityZone'>>): string {
  if (s.hostId) return s.hostAvailabilityZone ?? DEFAULT_ZONE;
  return s.availabilityZone ?? '';
}

/** The `availability_zone` of a server create body, checked as Nova's schema and parser do. */
export function requestedZone(server: Record<string, unknown>): string | undefined {
  if (server.availability_zone === undefined) return undefined;
  const value = checkNovaName(server.availability_zone, 'availability_zone', 'name');
  parseZoneRequest(value);
  return value;
}
