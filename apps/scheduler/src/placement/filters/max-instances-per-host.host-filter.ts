/** Nova's NumInstancesFilter: a host holding NUBO_SCHEDULER_MAX_INSTANCES_PER_HOST consumers (servers, migrations) takes no more. */
import { HostCandidate, HostFilter } from '../placement-types';

export class MaxInstancesPerHostFilter implements HostFilter {
  readonly name = 'NumInstancesFilter';

  constructor(private readonly max: number) {}

  reject(host: HostCandidate): string | null {
    return host.instances < this.max ? null : `NumInstances: ${host.instances} instances, at most ${this.max}`;
  }
}
