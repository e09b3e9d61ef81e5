import { PlacementRequest } from '../placement-types';
import { candidate, placementRequest } from '../placement-fixtures';
import { SoftAntiAffinityWeigher } from './soft-anti-affinity.weigher';

describe(SoftAntiAffinityWeigher.name, () => {
  it.each<[string, PlacementRequest['group'], number]>([
    ['no group', undefined, 0],
    ['no member here', { policy: 'soft-anti-affinity', memberHosts: ['h2'] }, -0],
    ['two members here', { policy: 'soft-anti-affinity', memberHosts: ['h1', 'h1', 'h3'] }, -2],
    ['another policy', { policy: 'soft-affinity', memberHosts: ['h1'] }, 0],
  ])('%s', (_what, group, weight) => {
    expect(new SoftAntiAffinityWeigher(1).weigh(candidate('h1'), placementRequest({ group })) + 0).toBe(weight + 0);
  });
});
