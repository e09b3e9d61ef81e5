import { candidate } from '../placement-fixtures';
import { RamWeigher } from './ram.weigher';

describe(RamWeigher.name, () => {
  it.each([
    [{}, 8192],
    [{ usedRamMb: 1000 }, 7192],
    [{ ramAllocationRatio: 1.5 }, 12288],
    [{ reservedRamMb: 192 }, 8000],
  ])('host %j weighs its free RAM, %i', (host, weight) => {
    expect(new RamWeigher(1).weigh(candidate('h1', host))).toBe(weight);
  });

  it('takes its multiplier as given (negative packs)', () => {
    expect(new RamWeigher(-1).multiplier).toBe(-1);
    expect(new RamWeigher(-1).weigh(candidate('h1'))).toBe(8192);
  });
});
