/** Nova's CPUWeigher: free vCPUs (after ratio and reserved). A positive multiplier spreads, a negative one packs. */
import { freeVcpus } from '../capacity';
import { HostCandidate, HostWeigher } from '../placement-types';

export class VcpuWeigher implements HostWeigher {
  readonly name = 'CPUWeigher';

  constructor(readonly multiplier: number) {}

  weigh(host: HostCandidate): number {
    return freeVcpus(host);
  }
}
