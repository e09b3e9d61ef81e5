/** Nova's ServerGroupSoftAffinityWeigher: for a soft-affinity group, hosts with more of its members first. */
import { HostCandidate, HostWeigher, PlacementRequest } from '../placement-types';
import { membersOn } from './group-members';

export class SoftAffinityWeigher implements HostWeigher {
  readonly name = 'ServerGroupSoftAffinityWeigher';

  constructor(readonly multiplier: number) {}

  appliesTo(request: PlacementRequest): boolean {
    return request.group?.policy === 'soft-affinity' && request.group.memberHosts.length > 0;
  }

  weigh(host: HostCandidate, request: PlacementRequest): number {
    return request.group?.policy === 'soft-affinity' ? membersOn(host, request) : 0;
  }
}
