/** Nova's ServerGroupAffinityFilter (hard): once a member of the group is placed, the others go to its host. */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class ServerGroupAffinityFilter implements HostFilter {
  readonly name = 'ServerGroupAffinityFilter';

  appliesTo(request: PlacementRequest): boolean {
    return request.group?.policy === 'affinity' && request.group.memberHosts.length > 0;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const group = request.group;
    if (group?.policy !== 'affinity' || group.memberHosts.length === 0) return null;
    return group.memberHosts.includes(host.id) ? null : 'ServerGroupAffinity: the members of the group run on another host';
  }
}
