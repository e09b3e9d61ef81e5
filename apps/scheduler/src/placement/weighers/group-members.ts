/** How many other members of the request's server group are on a host (memberHosts: one entry per member). */
import { HostCandidate, PlacementRequest } from '../placement-types';

export function membersOn(host: HostCandidate, request: PlacementRequest): number {
  let n = 0;
  for (const h of request.group?.memberHosts ?? []) if (h === host.id) n++;
  return n;
}
