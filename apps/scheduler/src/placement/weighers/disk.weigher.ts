/** Nova's DiskWeigher: free disk (after ratio and reserved). A positive multiplier spreads, a negative one packs. */
import { freeDiskGb } from '../capacity';
import { HostCandidate, HostWeigher } from '../placement-types';

export class DiskWeigher implements HostWeigher {
  readonly name = 'DiskWeigher';

  constructor(readonly multiplier: number) {}

  weigh(host: HostCandidate): number {
    return freeDiskGb(host);
  }
}
