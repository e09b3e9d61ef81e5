import { candidate, placementRequest } from '../placement-fixtures';
import { ExcludedHostsFilter } from './excluded-hosts.host-filter';

describe(ExcludedHostsFilter.name, () => {
  const filter = new ExcludedHostsFilter();
  it.each([
    ['nothing excluded', [], null],
    ['another host excluded', ['h2'], null],
    ['this host excluded', ['h2', 'h1'], 'Retry: a spawn of this server already failed here'],
  ])('%s', (_what, excludedHosts, expected) => {
    expect(filter.reject(candidate('h1'), placementRequest({ excludedHosts }))).toBe(expected);
  });
});
