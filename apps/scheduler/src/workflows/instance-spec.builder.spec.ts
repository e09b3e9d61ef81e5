import { NoValidHostError } from '@nubo/contracts';
import { acceleratorOf } from './instance-spec.builder';

describe('acceleratorOf', () => {
  it.each([
    [undefined, undefined],
    [{}, undefined],
    [{ hypervisor_type: '' }, undefined],
    [{ hypervisor_type: 'qemu' }, 'tcg'],
    [{ hypervisor_type: 'QEMU' }, 'tcg'],
    [{ hypervisor_type: 'kvm' }, 'kvm'],
    [{ hypervisor_type: ' KVM ' }, 'kvm'],
    [{ os_distro: 'debian' }, undefined],
  ])('image properties %j ask for %s', (properties, expected) => {
    expect(acceleratorOf('img-1', properties)).toBe(expected);
  });

  it.each([['xen'], ['hyperv'], [42]])('answers NoValidHost for hypervisor_type %j, naming the image', (value) => {
    expect(() => acceleratorOf('img-1', { hypervisor_type: value })).toThrow(NoValidHostError);
    expect(() => acceleratorOf('img-1', { hypervisor_type: value })).toThrow(/Image img-1 asks for hypervisor_type/);
  });
});
