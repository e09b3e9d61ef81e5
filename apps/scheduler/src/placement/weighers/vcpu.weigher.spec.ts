import { candidate } from '../placement-fixtures';
import { VcpuWeigher } from './vcpu.weigher';

describe(VcpuWeigher.name, () => {
  it.each([
    [{ vcpus: 4, cpuAllocationRatio: 4 }, 16],
    [{ vcpus: 4, cpuAllocationRatio: 4, usedVcpus: 10 }, 6],
    [{ vcpus: 4, cpuAllocationRatio: 1, reservedVcpus: 1 }, 3],
  ])('host %j weighs its free vCPUs, %i', (host, weight) => {
    expect(new VcpuWeigher(1).weigh(candidate('h1', host))).toBe(weight);
  });
});
