import { candidate, placementRequest } from '../placement-fixtures';
import { ImagePropertiesFilter, canonicalArchitecture } from './image-properties.host-filter';

describe(ImagePropertiesFilter.name, () => {
  const filter = new ImagePropertiesFilter();
  const kvmHost = candidate('k', { accelerator: 'kvm', traits: new Set(['COMPUTE_ACCEL_KVM', 'COMPUTE_ACCEL_TCG']) });
  const tcgHost = candidate('t', { accelerator: 'tcg', traits: new Set(['COMPUTE_ACCEL_TCG']) });
  const kvmUntraited = candidate('u', { accelerator: 'kvm' });

  it.each([
    ['no properties', {}, tcgHost, null],
    ['architecture x86_64', { architecture: 'x86_64' }, tcgHost, null],
    ['architecture amd64 (Nova canonicalizes it)', { architecture: 'AMD64' }, tcgHost, null],
    ['architecture i686', { architecture: 'i386' }, tcgHost, null],
    ['architecture aarch64', { architecture: 'aarch64' }, kvmHost, 'ImageProperties: architecture aarch64 is not supported (x86_64, i686)'],
    ['hypervisor_type qemu on a TCG host', { hypervisor_type: 'qemu' }, tcgHost, null],
    ['hypervisor_type qemu on a KVM host', { hypervisor_type: 'QEMU' }, kvmHost, null],
    ['hypervisor_type kvm on a KVM host', { hypervisor_type: 'kvm' }, kvmHost, null],
    ['hypervisor_type kvm on a host reporting kvm without traits', { hypervisor_type: 'kvm' }, kvmUntraited, null],
    ['hypervisor_type kvm on a TCG host', { hypervisor_type: 'kvm' }, tcgHost, 'ImageProperties: hypervisor_type kvm needs KVM, host runs tcg'],
    ['img_hv_type kvm on a TCG host', { img_hv_type: 'kvm' }, tcgHost, 'ImageProperties: hypervisor_type kvm needs KVM, host runs tcg'],
    ['hypervisor_type xen', { hypervisor_type: 'xen' }, kvmHost, 'ImageProperties: hypervisor_type xen is not supported (qemu, kvm)'],
    ['vm_mode hvm', { vm_mode: 'hvm' }, tcgHost, null],
    ['vm_mode xen', { vm_mode: 'xen' }, tcgHost, 'ImageProperties: vm_mode xen is not supported (hvm)'],
  ])('%s', (_what, imageProperties, host, expected) => {
    expect(filter.reject(host, placementRequest({ imageProperties }))).toBe(expected);
  });

  it.each([
    ['x86_64', 'x86_64'],
    ['AMD64', 'x86_64'],
    ['i586', 'i686'],
    ['x86_32', 'i686'],
    ['aarch64', 'aarch64'],
  ])('canonicalArchitecture(%s) = %s', (raw, canonical) => expect(canonicalArchitecture(raw)).toBe(canonical));
});
