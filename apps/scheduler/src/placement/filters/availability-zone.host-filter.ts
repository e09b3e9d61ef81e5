/** Nova's AvailabilityZoneFilter: a server asked for a zone goes only to hosts in it (a host's zone is its aggregate's, else "nova"). */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class AvailabilityZoneFilter implements HostFilter {
  readonly name = 'AvailabilityZoneFilter';

  appliesTo(request: PlacementRequest): boolean {
    return request.availabilityZone !== null;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const wanted = request.availabilityZone;
    if (wanted === null || host.zone === wanted) return null;
    return `AvailabilityZone: host is in zone ${host.zone}, ${wanted} requested`;
  }
}
