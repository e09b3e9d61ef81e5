import { candidate, placementRequest } from '../placement-fixtures';
import { RamFilter } from './ram.host-filter';

describe(RamFilter.name, () => {
  const filter = new RamFilter();
  it.each([
    ['an empty host', {}, 512, null],
    ['an exact fit', { ramMb: 512 }, 512, null],
    ['one MB short', { ramMb: 1024, usedRamMb: 513 }, 512, 'RAM: 511 MB free, 512 MB wanted'],
    ['overcommit within the ratio', { ramMb: 1024, ramAllocationRatio: 1.5, usedRamMb: 1024 }, 512, null],
    ['overcommit beyond the ratio', { ramMb: 1024, ramAllocationRatio: 1.5, usedRamMb: 1100 }, 512, 'RAM: 436 MB free, 512 MB wanted'],
    ['reserved RAM is not for guests', { ramMb: 1024, reservedRamMb: 600 }, 512, 'RAM: 424 MB free, 512 MB wanted'],
    ['ratio x capacity rounds down', { ramMb: 1001, ramAllocationRatio: 0.5 }, 501, 'RAM: 500 MB free, 501 MB wanted'],
    ['already over (ratio lowered)', { ramMb: 1024, usedRamMb: 2048 }, 1, 'RAM: -1024 MB free, 1 MB wanted'],
  ])('%s', (_what, host, ramMb, expected) => {
    expect(filter.reject(candidate('h1', host), placementRequest({ ramMb }))).toBe(expected);
  });
});
