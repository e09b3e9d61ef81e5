/**
 * The host an admin named at create ("zone:host", stored as the host id): that host only. Unlike
 * Nova (which skips every filter for a forced host) the other filters still run: the claim checks
 * capacity anyway, and a refusal then says which filter refused.
 */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

/** The host part of a forced host: a plain host id, or Nova's "zone:host" / "zone::node" / "zone:host:node". */
export function forcedHostId(forced: string): string {
  if (!forced.includes(':')) return forced;
  const [, host, node] = forced.split(':');
  return host || node || '';
}

export class ForcedHostFilter implements HostFilter {
  readonly name = 'ForcedHostFilter';

  appliesTo(request: PlacementRequest): boolean {
    return request.forcedHost !== null;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    if (request.forcedHost === null) return null;
    const forced = forcedHostId(request.forcedHost);
    return host.id === forced ? null : `ForcedHost: host ${forced} was requested`;
  }
}
