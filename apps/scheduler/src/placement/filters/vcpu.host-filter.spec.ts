import { candidate, placementRequest } from '../placement-fixtures';
import { VcpuFilter } from './vcpu.host-filter';

describe(VcpuFilter.name, () => {
  const filter = new VcpuFilter();
  it.each([
    ['an empty host', { vcpus: 1, cpuAllocationRatio: 1 }, 1, null],
    ['overcommit within the ratio', { vcpus: 2, cpuAllocationRatio: 4, usedVcpus: 7 }, 1, null],
    ['overcommit beyond the ratio', { vcpus: 2, cpuAllocationRatio: 4, usedVcpus: 8 }, 1, 'VCPU: 0 free, 1 wanted'],
    ['more than the host has', { vcpus: 2, cpuAllocationRatio: 1 }, 4, 'VCPU: 2 free, 4 wanted'],
    ['reserved vCPUs', { vcpus: 4, cpuAllocationRatio: 1, reservedVcpus: 2, usedVcpus: 1 }, 2, 'VCPU: 1 free, 2 wanted'],
  ])('%s', (_what, host, vcpus, expected) => {
    expect(filter.reject(candidate('h1', host), placementRequest({ vcpus }))).toBe(expected);
  });
});
