/** vCPU capacity (Nova's former CoreFilter): (total - reserved) x cpu_allocation_ratio - used must hold the flavor's vCPUs. */
import { freeVcpus } from '../capacity';
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export class VcpuFilter implements HostFilter {
  readonly name = 'CoreFilter';

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const free = freeVcpus(host);
    return free >= request.vcpus ? null : `VCPU: ${free} free, ${request.vcpus} wanted`;
  }
}
