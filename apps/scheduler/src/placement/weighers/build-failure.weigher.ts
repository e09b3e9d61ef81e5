/**
 * Nova's BuildFailureWeigher: hosts where builds failed recently go last. Like Nova, the setting
 * (NUBO_SCHEDULER_BUILD_FAILURE_WEIGHT_MULTIPLIER, default 1000000) is positive and the weigher
 * negates it, so after normalization the host with the most recent failures scores -1000000:
 * enough to outweigh every other weigher at their default multipliers.
 */
import { HostCandidate, HostWeigher } from '../placement-types';

export class BuildFailureWeigher implements HostWeigher {
  readonly name = 'BuildFailureWeigher';
  readonly multiplier: number;

  constructor(setting: number) {
    this.multiplier = -setting;
  }

  weigh(host: HostCandidate): number {
    return host.recentFailures;
  }
}
