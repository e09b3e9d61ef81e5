/** Hosts and requests for the scheduling specs (tests only). */
import { HostState } from '@nubo/contracts';
import { HostCandidate, PlacementRequest } from './placement-types';

export function candidate(id: string, o: Partial<HostCandidate> = {}): HostCandidate {
  return {
    id,
    generation: '0',
    state: HostState.Up,
    disabled: false,
    accelerator: 'kvm',
    zone: 'nova',
    traits: new Set<string>(),
    aggregates: [],
    vcpus: 4,
    ramMb: 8192,
    diskGb: 100,
    cpuAllocationRatio: 4,
    ramAllocationRatio: 1,
    diskAllocationRatio: 1,
    usedVcpus: 0,
    usedRamMb: 0,
    usedDiskGb: 0,
    instances: 0,
    recentFailures: 0,
    ...o,
  };
}

export function placementRequest(o: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    serverId: 's1',
    projectId: 'p1',
    vcpus: 1,
    ramMb: 512,
    diskGb: 1,
    extraSpecs: {},
    imageProperties: {},
    availabilityZone: null,
    forcedHost: null,
    excludedHosts: [],
    ...o,
  };
}
