import { resolveAccelerator } from './accelerator';

describe('resolveAccelerator', () => {
  it.each([
    ['auto', true, 'kvm'],
    ['auto', false, 'tcg'],
    ['kvm', false, 'kvm'],
    ['tcg', true, 'tcg'],
  ] as const)('%s with /dev/kvm usable=%s is %s', (mode, kvm, expected) => {
    expect(resolveAccelerator(mode, () => kvm)).toBe(expected);
  });
});
