/** Nova's ComputeFilter: only hosts that are up (heartbeating, not fenced or in maintenance) and not disabled by an admin. */
import { HostState } from '@nubo/contracts';
import { HostCandidate, HostFilter } from '../placement-types';

export class ComputeStatusFilter implements HostFilter {
  readonly name = 'ComputeFilter';

  reject(host: HostCandidate): string | null {
    if (host.state !== HostState.Up) return `Compute: host is ${host.state}`;
    if (host.disabled) return 'Compute: host is disabled';
    return null;
  }
}
