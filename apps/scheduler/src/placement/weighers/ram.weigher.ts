/** Nova's RAMWeigher: free RAM (after ratio and reserved). A positive multiplier spreads, a negative one packs. */
import { freeRamMb } from '../capacity';
import { HostCandidate, HostWeigher } from '../placement-types';

export class RamWeigher implements HostWeigher {
  readonly name = 'RAMWeigher';

  constructor(readonly multiplier: number) {}

  weigh(host: HostCandidate): number {
    return freeRamMb(host);
  }
}
