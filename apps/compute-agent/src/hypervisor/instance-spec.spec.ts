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

  it('keeps shared storage and drops the default local', () => {
    expect(validateInstanceSpec({ ...spec, storage: 'shared' })).toEqual({ ...spec, storage: 'shared' });
    expect(validateInstanceSpec({ ...spec, storage: 'local' })).toEqual(spec);
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
    ['storage', 'nfs', 'spec.storage'],
  ])('rejects %s = %j naming %s', (key, value, field) => {
    const bad = { ...spec, [key]: value };
    expect(() => validateInstanceSpec(bad)).toThrow(ValidationError);
    expect(() => validateInstanceSpec(bad)).toThrow(expect.objectContaining({ details: { field } }));
  });
});

describe('validateInstanceSpec: guest fields', () => {
  const full = {
    ...spec,
    vcpus: 4,
    name: 'web,1 = "prod"\n--help',
    metadata: { 'a,b': 'c=d', role: '' },
    ephemeralGb: 2,
    topology: { sockets: 2, cores: 2, threads: 1 },
    diskBus: 'scsi' as const,
    nics: [
      { mac: 'fa:16:3e:00:00:01', tap: 'tap-1a2b3c4d', mtu: 1450 },
      { mac: '02:00:00:00:00:02', tap: 'tap0' },
    ],
  };

  it('keeps every guest field, user text verbatim', () => {
    expect(validateInstanceSpec(full)).toEqual(full);
  });

  it('drops an ephemeral disk of 0 GB (none) and unknown NIC fields', () => {
    const nic = { mac: 'fa:16:3e:00:00:01', tap: 'tap0', evil: 'x' };
    expect(validateInstanceSpec({ ...spec, ephemeralGb: 0, nics: [nic] } as typeof spec)).toEqual({ ...spec, nics: [{ mac: nic.mac, tap: 'tap0' }] });
  });

  it.each([
    ['a 255-character unicode name', 'é'.repeat(255)],
    ['an emoji name (one character, two UTF-16 units)', '\u{1F600}'.repeat(255)],
    ['an empty name', ''],
  ])('accepts %s', (_what, name) => {
    expect(validateInstanceSpec({ ...spec, name }).name).toBe(name);
  });

  it.each([
    ['name', 'x'.repeat(256), 'spec.name'],
    ['name', 'a\u0000b', 'spec.name'],
    ['name', 'lone \ud800 surrogate', 'spec.name'],
    ['name', 42, 'spec.name'],
    ['metadata', 'k=v', 'spec.metadata'],
    ['metadata', ['k'], 'spec.metadata'],
    ['metadata', { '': 'v' }, 'spec.metadata'],
    ['metadata', { ['k'.repeat(256)]: 'v' }, 'spec.metadata'],
    ['metadata', { k: 'v'.repeat(256) }, 'spec.metadata.k'],
    ['metadata', { k: 'a\u0000' }, 'spec.metadata.k'],
    ['metadata', { k: 1 }, 'spec.metadata.k'],
    ['ephemeralGb', -1, 'spec.ephemeralGb'],
    ['ephemeralGb', 1.5, 'spec.ephemeralGb'],
    ['topology', { sockets: 2, cores: 2, threads: 2 }, 'spec.topology'],
    ['topology', { sockets: 0, cores: 4, threads: 1 }, 'spec.topology.sockets'],
    ['topology', { sockets: 4, cores: 1 }, 'spec.topology.threads'],
    ['diskBus', 'ide', 'spec.diskBus'],
    ['nics', {}, 'spec.nics'],
    ['nics', Array(17).fill({ mac: 'fa:16:3e:00:00:01', tap: 'tap0' }), 'spec.nics'],
    ['nics', [null], 'spec.nics[0]'],
    ['nics', [{ mac: 'FA:16:3E:00:00:01', tap: 'tap0' }], 'spec.nics[0].mac'],
    ['nics', [{ mac: '01:00:5e:00:00:01', tap: 'tap0' }], 'spec.nics[0].mac'],
    ['nics', [{ mac: 'ff:ff:ff:ff:ff:ff', tap: 'tap0' }], 'spec.nics[0].mac'],
    ['nics', [{ mac: '00:00:00:00:00:00', tap: 'tap0' }], 'spec.nics[0].mac'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01,id=x', tap: 'tap0' }], 'spec.nics[0].mac'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'tap,ifname=eth0' }], 'spec.nics[0].tap'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'Tap0' }], 'spec.nics[0].tap'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'a'.repeat(16) }], 'spec.nics[0].tap'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'tap0', mtu: 67 }], 'spec.nics[0].mtu'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'tap0', mtu: '1500' }], 'spec.nics[0].mtu'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'tap0' }, { mac: 'fa:16:3e:00:00:01', tap: 'tap1' }], 'spec.nics[1].mac'],
    ['nics', [{ mac: 'fa:16:3e:00:00:01', tap: 'tap0' }, { mac: 'fa:16:3e:00:00:02', tap: 'tap0' }], 'spec.nics[1].tap'],
  ])('rejects %s = %j naming %s', (key, value, field) => {
    const bad = { ...full, [key]: value };
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
