import { PlacementRequest } from '../placement-types';
import { candidate, placementRequest } from '../placement-fixtures';
import { ServerGroupAntiAffinityFilter } from './server-group-anti-affinity.host-filter';

describe(ServerGroupAntiAffinityFilter.name, () => {
  const filter = new ServerGroupAntiAffinityFilter();
  it.each<[string, PlacementRequest['group'], string, string | null]>([
    ['no group', undefined, 'h1', null],
    ['first member', { policy: 'anti-affinity', memberHosts: [] }, 'h1', null],
    ['members elsewhere', { policy: 'anti-affinity', memberHosts: ['h2', 'h3'] }, 'h1', null],
    ['a member here', { policy: 'anti-affinity', memberHosts: ['h2', 'h1'] }, 'h1', 'ServerGroupAntiAffinity: a member of the group runs here'],
    ['affinity is not this filter', { policy: 'affinity', memberHosts: ['h1'] }, 'h1', null],
    ['soft anti-affinity only weighs', { policy: 'soft-anti-affinity', memberHosts: ['h1'] }, 'h1', null],
  ])('%s', (_what, group, host, expected) => {
    expect(filter.reject(candidate(host), placementRequest({ group }))).toBe(expected);
  });
});
