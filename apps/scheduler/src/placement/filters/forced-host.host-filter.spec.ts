import { candidate, placementRequest } from '../placement-fixtures';
import { ForcedHostFilter, forcedHostId } from './forced-host.host-filter';

describe(ForcedHostFilter.name, () => {
  const filter = new ForcedHostFilter();
  it.each([
    ['no forced host: any host', null, 'h1', null],
    ['the forced host', 'h1', 'h1', null],
    ['another host', 'h2', 'h1', 'ForcedHost: host h2 was requested'],
    ['"zone:host" names the host', 'nova:h1', 'h1', null],
    ['"zone::node" names the node', 'nova::h1', 'h1', null],
    ['"zone:host" for another host', 'nova:h2', 'h1', 'ForcedHost: host h2 was requested'],
  ])('%s', (_what, forced, host, expected) => {
    expect(filter.reject(candidate(host), placementRequest({ forcedHost: forced }))).toBe(expected);
  });

  it.each([
    ['h1', 'h1'],
    ['az:h1', 'h1'],
    ['az::n1', 'n1'],
    ['az:h1:n1', 'h1'],
  ])('forcedHostId(%s) = %s', (raw, id) => expect(forcedHostId(raw)).toBe(id));
});
