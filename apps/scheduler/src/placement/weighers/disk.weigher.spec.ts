import { candidate } from '../placement-fixtures';
import { DiskWeigher } from './disk.weigher';

describe(DiskWeigher.name, () => {
  it.each([
    [{ diskGb: 100 }, 100],
    [{ diskGb: 100, usedDiskGb: 30 }, 70],
    [{ diskGb: 100, diskAllocationRatio: 2, usedDiskGb: 30 }, 170],
  ])('host %j weighs its free disk, %i', (host, weight) => {
    expect(new DiskWeigher(1).weigh(candidate('h1', host))).toBe(weight);
  });
});
