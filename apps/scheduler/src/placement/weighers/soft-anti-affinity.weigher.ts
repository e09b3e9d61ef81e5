/** Nova's ServerGroupSoftAntiAffinityWeigher: for a soft-anti-affinity group, hosts with fewer of its members first. */
import { HostCandidate, HostWeigher, PlacementRequest } from '../placement-types';
import { membersOn } from './group-members';

export class SoftAntiAffinityWeigher implements HostWeigher {
  readonly name = 'ServerGroupSoftAntiAffinityWeigher';

  constructor(readonly multiplier: number) {}

  appliesTo(request: PlacementRequest): boolean {
    return request.group?.policy === 'soft-anti-affinity' && request.group.memberHosts.length > 0;
  }

  weigh(host: HostCandidate, request: PlacementRequest): number {
    return request.group?.policy === 'soft-anti-affinity' ? -membersOn(host, request) : 0;
  }
}
