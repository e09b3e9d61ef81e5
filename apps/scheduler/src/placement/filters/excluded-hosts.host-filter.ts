/**
 * Hosts where this server's spawn already failed are not tried again for it (Nova's RetryFilter,
 * whose job Nova's alternates took over in Train).
 */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class ExcludedHostsFilter implements HostFilter {
  readonly name = 'RetryFilter';

  appliesTo(request: PlacementRequest): boolean {
    return request.excludedHosts.length > 0;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    return request.excludedHosts.includes(host.id) ? 'Retry: a spawn of this server already failed here' : null;
  }
}
