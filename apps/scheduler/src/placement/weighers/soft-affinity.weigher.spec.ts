import { PlacementRequest } from '../placement-types';
import { candidate, placementRequest } from '../placement-fixtures';
import { SoftAffinityWeigher } from './soft-affinity.weigher';

describe(SoftAffinityWeigher.name, () => {
  it.each<[string, PlacementRequest['group'], number]>([
    ['no group', undefined, 0],
    ['no member here', { policy: 'soft-affinity', memberHosts: ['h2'] }, 0],
    ['two members here', { policy: 'soft-affinity', memberHosts: ['h1', 'h2', 'h1'] }, 2],
    ['another policy', { policy: 'soft-anti-affinity', memberHosts: ['h1'] }, 0],
    ['hard affinity is a filter', { policy: 'affinity', memberHosts: ['h1'] }, 0],
  ])('%s', (_what, group, weight) => {
    expect(new SoftAffinityWeigher(1).weigh(candidate('h1'), placementRequest({ group }))).toBe(weight);
  });
});
