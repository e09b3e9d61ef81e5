import { ValidationError } from '@nubo/contracts';
import { validateInstanceSpec, validateRebootOptions, validateStopOptions } from './instance-spec';

const serverId = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const image = {
  id: 'cirros',
  sha256: 'a'.repeat(64),
  sizeBytes: 1024,
  diskFormat: 'qcow2' as const,
  url: 'http://127.0.0.1:9292/internal/images/cirros/file?expires=1&sig=x',
};
const spec = { serverId, vcpus: 1, ramMb: 64, diskGb: 1, image };

describe('validateInstanceSpec', () => {
  it('keeps a valid image and drops unknown fields', () => {
    const extra = { ...spec, image: { ...image, extra: 1 }, evil: true } as unknown as typeof spec;
    expect(validateInstanceSpec(extra)).toEqual(spec);
  });

  it.each(['kvm', 'tcg'] as const)('keeps the accelerator %s the image asks for', (accelerator) => {
    expect(validateInstanceSpec({ ...spec, accelerator })).toEqual({ ...spec, accelerator });
  });

  it('accepts a spec without an image (a firmware-only guest)', () => {
    const { image: _none, ...bare } = spec;
    expect(validateInstanceSpec(bare)).toEqual(bare);
  });

  it.each([
    ['image', 'not an object', 'spec.image'],
    ['image', { ...image, id: '' }, 'spec.image.id'],
    ['image', { ...image, sha256: 'A'.repeat(64) }, 'spec.image.sha256'],
    ['image', { ...image, sha256: '../../etc/passwd' }, 'spec.image.sha256'],
    ['image', { ...image, sizeBytes: 0 }, 'spec.image.sizeBytes'],
    ['image', { ...image, sizeBytes: 1.5 }, 'spec.image.sizeBytes'],
    ['image', { ...image, diskFormat: 'vmdk' }, 'spec.image.diskFormat'],
    ['image', { ...image, url: 'file:///etc/passwd' }, 'spec.image.url'],
    ['image', { ...image, url: 'not a url' }, 'spec.image.url'],
    ['diskGb', -1, 'spec.diskGb'],
    ['accelerator', 'hvf', 'spec.accelerator'],
    ['accelerator', 'KVM', 'spec.accelerator'],
  ])('rejects %s = %j naming %s', (key, value, field) => {
    const bad = { ...spec, [key]: value };
    expect(() => validateInstanceSpec(bad)).toThrow(ValidationError);
    expect(() => validateInstanceSpec(bad)).toThrow(expect.objectContaining({ details: { field } }));
  });
});

describe('validateStopOptions', () => {
  it.each([0, 1, 300])('accepts graceSeconds %s', (graceSeconds) => {
    expect(validateStopOptions({ graceSeconds })).toEqual({ graceSeconds });
  });

  it.each([-1, 301, 1.5, '5', undefined])('rejects graceSeconds %j', (graceSeconds) => {
    expect(() => validateStopOptions({ graceSeconds })).toThrow(expect.objectContaining({ details: { field: 'graceSeconds' } }));
  });
});

describe('validateRebootOptions', () => {
  it.each(['SOFT', 'HARD'] as const)('accepts %s', (type) => {
    expect(validateRebootOptions({ type, graceSeconds: 10 })).toEqual({ type, graceSeconds: 10 });
  });

  it.each(['soft', 'GENTLY', undefined])('rejects type %j', (type) => {
    expect(() => validateRebootOptions({ type, graceSeconds: 10 })).toThrow(expect.objectContaining({ details: { field: 'type' } }));
  });
});
