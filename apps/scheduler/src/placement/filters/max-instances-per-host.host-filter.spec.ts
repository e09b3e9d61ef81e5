import { candidate } from '../placement-fixtures';
import { MaxInstancesPerHostFilter } from './max-instances-per-host.host-filter';

describe(MaxInstancesPerHostFilter.name, () => {
  it.each([
    [50, 0, null],
    [50, 49, null],
    [50, 50, 'NumInstances: 50 instances, at most 50'],
    [2, 3, 'NumInstances: 3 instances, at most 2'],
    [1, 0, null],
  ])('at most %i, host holds %i', (max, instances, expected) => {
    expect(new MaxInstancesPerHostFilter(max).reject(candidate('h1', { instances }))).toBe(expected);
  });
});
