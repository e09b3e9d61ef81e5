import { PlacementRequest } from '../placement-types';
import { candidate, placementRequest } from '../placement-fixtures';
import { ServerGroupAffinityFilter } from './server-group-affinity.host-filter';

describe(ServerGroupAffinityFilter.name, () => {
  const filter = new ServerGroupAffinityFilter();
  it.each<[string, PlacementRequest['group'], string, string | null]>([
    ['no group', undefined, 'h1', null],
    ['first member: any host', { policy: 'affinity', memberHosts: [] }, 'h1', null],
    ["the members' host", { policy: 'affinity', memberHosts: ['h1', 'h1'] }, 'h1', null],
    ['another host', { policy: 'affinity', memberHosts: ['h2'] }, 'h1', 'ServerGroupAffinity: the members of the group run on another host'],
    ['anti-affinity is not this filter', { policy: 'anti-affinity', memberHosts: ['h2'] }, 'h1', null],
    ['soft affinity only weighs', { policy: 'soft-affinity', memberHosts: ['h2'] }, 'h1', null],
  ])('%s', (_what, group, host, expected) => {
    expect(filter.reject(candidate(host), placementRequest({ group }))).toBe(expected);
  });
});
