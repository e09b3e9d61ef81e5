/** Nova's ServerGroupAntiAffinityFilter (hard): never two members of the group on one host. */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class ServerGroupAntiAffinityFilter implements HostFilter {
  readonly name = 'ServerGroupAntiAffinityFilter';

  appliesTo(request: PlacementRequest): boolean {
    return request.group?.policy === 'anti-affinity' && request.group.memberHosts.length > 0;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const group = request.group;
    if (group?.policy !== 'anti-affinity') return null;
    return group.memberHosts.includes(host.id) ? 'ServerGroupAntiAffinity: a member of the group runs here' : null;
  }
}
