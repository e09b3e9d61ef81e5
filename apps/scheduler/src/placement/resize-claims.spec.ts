import { HostCapacity, resizeFitProblem } from './resize-claims';

const host = (o: Partial<HostCapacity> = {}): HostCapacity => ({
  generation: '1', vcpus: 4, ramMb: 4096, diskGb: 100, cpuAllocationRatio: 4, ramAllocationRatio: 1, diskAllocationRatio: 1,
  usedVcpus: 0, usedRamMb: 0, usedDiskGb: 0, ...o,
});

describe('resizeFitProblem', () => {
  it.each([
    ['an empty host', host(), { vcpus: 2, ramMb: 2048, diskGb: 20 }, undefined],
    ['beside the old flavor', host({ usedVcpus: 1, usedRamMb: 2048, usedDiskGb: 20 }), { vcpus: 1, ramMb: 2048, diskGb: 20 }, undefined],
    ['RAM held by the old flavor', host({ usedRamMb: 3072 }), { vcpus: 1, ramMb: 2048, diskGb: 1 }, 'RAM: 1024 MB free, 2048 MB wanted'],
    ['vCPUs over the allocation ratio', host({ usedVcpus: 15 }), { vcpus: 2, ramMb: 512, diskGb: 1 }, 'VCPU: 1 free, 2 wanted'],
    ['disk', host({ usedDiskGb: 95 }), { vcpus: 1, ramMb: 512, diskGb: 10 }, 'DISK: 5 GB free, 10 GB wanted'],
    ['more RAM than the host has', host(), { vcpus: 1, ramMb: 12288, diskGb: 1 }, 'RAM: 4096 MB free, 12288 MB wanted'],
  ])('%s', (_what, h, request, problem) => expect(resizeFitProblem(h, request)).toBe(problem));
});
