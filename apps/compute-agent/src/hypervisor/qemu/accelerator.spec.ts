import { KvmUnavailableError, chooseAccelerator, resolveAccelerator } from './accelerator';

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

describe('chooseAccelerator', () => {
  it.each([
    [undefined, 'kvm', true, 'kvm'],
    [undefined, 'tcg', true, 'tcg'],
    ['tcg', 'kvm', true, 'tcg'],
    ['tcg', 'kvm', false, 'tcg'],
    ['kvm', 'tcg', true, 'kvm'],
  ] as const)('spec %s on a host defaulting to %s (kvm usable=%s) runs %s', (requested, hostDefault, kvm, expected) => {
    expect(chooseAccelerator(requested, hostDefault, () => kvm)).toBe(expected);
  });

  it('refuses kvm on a host without /dev/kvm, saying why', () => {
    expect(() => chooseAccelerator('kvm', 'tcg', () => false)).toThrow(KvmUnavailableError);
    expect(() => chooseAccelerator('kvm', 'tcg', () => false)).toThrow(/hypervisor_type=kvm.*\/dev\/kvm/);
  });
});
