import { candidate } from '../placement-fixtures';
import { BuildFailureWeigher } from './build-failure.weigher';

describe(BuildFailureWeigher.name, () => {
  it.each([0, 1, 7])('weighs %i recent failures as themselves', (recentFailures) => {
    expect(new BuildFailureWeigher(1_000_000).weigh(candidate('h1', { recentFailures }))).toBe(recentFailures);
  });

  it.each([
    [1_000_000, -1_000_000],
    [0, -0],
    [5, -5],
  ])('negates the setting %d (Nova: the weigher does)', (setting, multiplier) => {
    expect(new BuildFailureWeigher(setting).multiplier).toBe(multiplier);
  });
});
