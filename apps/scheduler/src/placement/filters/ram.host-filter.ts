/** RAM capacity: (total - reserved) x ram_allocation_ratio - used must hold the flavor's RAM. */
import { freeRamMb } from '../capacity';
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class RamFilter implements HostFilter {
  readonly name = 'RamFilter';

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const free = freeRamMb(host);
    return free >= request.ramMb ? null : `RAM: ${free} MB free, ${request.ramMb} MB wanted`;
  }
}
