import { candidate, placementRequest } from '../placement-fixtures';
import { DiskFilter } from './disk.host-filter';

describe(DiskFilter.name, () => {
  const filter = new DiskFilter();
  it.each([
    ['room', { diskGb: 100, usedDiskGb: 10 }, 20, null],
    ['a diskless flavor on a full host', { diskGb: 100, usedDiskGb: 100 }, 0, null],
    ['full', { diskGb: 100, usedDiskGb: 100 }, 1, 'DISK: 0 GB free, 1 GB wanted'],
    ['overcommit within the ratio', { diskGb: 100, diskAllocationRatio: 2, usedDiskGb: 150 }, 50, null],
    ['reserved disk', { diskGb: 100, reservedDiskGb: 90 }, 20, 'DISK: 10 GB free, 20 GB wanted'],
  ])('%s', (_what, host, diskGb, expected) => {
    expect(filter.reject(candidate('h1', host), placementRequest({ diskGb }))).toBe(expected);
  });
});
