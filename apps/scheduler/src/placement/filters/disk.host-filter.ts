/** Disk capacity: (total - reserved) x disk_allocation_ratio - used must hold the flavor's disk. */
import { freeDiskGb } from '../capacity';
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class DiskFilter implements HostFilter {
  readonly name = 'DiskFilter';

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const free = freeDiskGb(host);
    return free >= request.diskGb ? null : `DISK: ${free} GB free, ${request.diskGb} GB wanted`;
  }
}
