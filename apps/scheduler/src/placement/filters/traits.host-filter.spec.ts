import { candidate, placementRequest } from '../placement-fixtures';
import { TraitsFilter, traitRequirements } from './traits.host-filter';

describe(TraitsFilter.name, () => {
  const host = candidate('h1', { traits: new Set(['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2', 'CUSTOM_SSD']) });

  it.each([
    ['no trait specs', {}, {}, null],
    ['a required trait the host has', { 'trait:HW_CPU_X86_AVX2': 'required' }, {}, null],
    ['a required custom trait the host has', { 'trait:CUSTOM_SSD': 'required' }, {}, null],
    ['a required trait the host lacks', { 'trait:COMPUTE_ACCEL_KVM': 'required' }, {}, 'Traits: required COMPUTE_ACCEL_KVM missing'],
    [
      'two required traits missing',
      { 'trait:COMPUTE_ACCEL_KVM': 'required', 'trait:HW_CPU_X86_AVX512F': 'required' },
      {},
      'Traits: required COMPUTE_ACCEL_KVM, HW_CPU_X86_AVX512F missing',
    ],
    ['a forbidden trait the host lacks', { 'trait:COMPUTE_ACCEL_KVM': 'forbidden' }, {}, null],
    ['a forbidden trait the host has', { 'trait:CUSTOM_SSD': 'forbidden' }, {}, 'Traits: forbidden CUSTOM_SSD present'],
    ['another value is ignored', { 'trait:COMPUTE_ACCEL_KVM': 'preferred' }, {}, null],
    ['granular groups are ignored', { 'trait1:COMPUTE_ACCEL_KVM': 'required' }, {}, null],
    ['other extra specs are ignored', { 'hw:cpu_sockets': '2', 'aggregate_instance_extra_specs:ssd': 'true' }, {}, null],
    ['a trait required by the image', {}, { 'trait:COMPUTE_ACCEL_KVM': 'required' }, 'Traits: required COMPUTE_ACCEL_KVM missing'],
    ['the image cannot forbid (as in Nova)', {}, { 'trait:CUSTOM_SSD': 'forbidden' }, null],
    ['shared storage asks for a host that mounts it', { 'nubo:storage': 'shared' }, {}, 'Traits: required CUSTOM_NUBO_SHARED_STORAGE missing'],
    ['local storage needs no trait', { 'nubo:storage': 'local' }, {}, null],
  ])('%s', (_what, extraSpecs, imageProperties, expected) => {
    expect(new TraitsFilter().reject(host, placementRequest({ extraSpecs, imageProperties }))).toBe(expected);
  });

  it('places shared-storage servers on hosts with the shared-storage trait', () => {
    const mounted = candidate('h2', { traits: new Set(['COMPUTE_ACCEL_TCG', 'CUSTOM_NUBO_SHARED_STORAGE']) });
    expect(new TraitsFilter().reject(mounted, placementRequest({ extraSpecs: { 'nubo:storage': 'shared' } }))).toBeNull();
  });

  it('reads the requirements of each new request', () => {
    const filter = new TraitsFilter();
    expect(filter.reject(host, placementRequest({ extraSpecs: { 'trait:CUSTOM_GPU': 'required' } }))).toMatch(/CUSTOM_GPU/);
    expect(filter.reject(host, placementRequest({ extraSpecs: {} }))).toBeNull();
  });

  it('traitRequirements collects both kinds', () => {
    expect(traitRequirements({ extraSpecs: { 'trait:A': 'required', 'trait:B': 'forbidden' }, imageProperties: { 'trait:C': 'required' } })).toEqual({
      required: ['A', 'C'],
      forbidden: ['B'],
    });
  });
});
