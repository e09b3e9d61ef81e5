/**
 * Nova's host_status (microversion 2.16, admins): how the server's host is, from the same
 * service state os-services shows. UP; MAINTENANCE when an admin disabled the host (or drains it);
 * DOWN when it is down or fenced; UNKNOWN when the host is not known; "" for no host.
 */
import { EntityManager } from 'typeorm';
import { HostRow, loadHosts, serviceStatus } from './hypervisors/host-inventory';

export type HostStatus = 'UP' | 'DOWN' | 'MAINTENANCE' | 'UNKNOWN' | '';

export function hostStatusOf(host: Pick<HostRow, 'state' | 'lastHeartbeatAt' | 'disabledReason' | 'forcedDown'> | undefined, now: Date): HostStatus {
  if (!host) return 'UNKNOWN';
  const s = serviceStatus(host, now);
  if (s.state === 'down') return 'DOWN';
  return s.status === 'disabled' ? 'MAINTENANCE' : 'UP';
}

/** host_status per host id; hosts not found map to UNKNOWN, servers without a host to "". */
export async function loadHostStatuses(db: Pick<EntityManager, 'query'>, hostIds: ReadonlyArray<string | null>): Promise<Map<string, HostStatus>> {
  const ids = [...new Set(hostIds.filter((h): h is string => !!h))];
  if (!ids.length) return new Map();
  const rows = (await loadHosts(db)).filter((h) => ids.includes(h.id));
  const now = new Date();
  return new Map(ids.map((id) => [id, hostStatusOf(rows.find((r) => r.id === id), now)]));
}

export const hostStatusFor = (statuses: Map<string, HostStatus>, hostId: string | null): HostStatus => (hostId ? statuses.get(hostId) ?? 'UNKNOWN' : '');
