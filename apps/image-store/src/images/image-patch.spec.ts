import { ConflictError, ForbiddenError, ValidationError } from '@nubo/contracts';
import { defaultImage } from './image-body';
import { MutableImage } from './image-fields';
import { applyPatch } from './image-patch';

const member = { projectId: 'p1', isAdmin: false };
const admin = { projectId: 'admin', isAdmin: true };
const base = (): MutableImage => ({ ...defaultImage(member), name: 'cirros', diskFormat: 'qcow2', containerFormat: 'bare', properties: { os_distro: 'cirros' } });

describe('applyPatch', () => {
  const applied: Array<[string, unknown[], Partial<MutableImage>, string?]> = [
    ['replaces the name', [{ op: 'replace', path: '/name', value: 'new' }], { name: 'new' }],
    ['adds over an existing core attribute', [{ op: 'add', path: '/name', value: 'added' }], { name: 'added' }],
    ['adds a property', [{ op: 'add', path: '/hw_disk_bus', value: 'virtio' }], { properties: { os_distro: 'cirros', hw_disk_bus: 'virtio' } }],
    ['adds over an existing property', [{ op: 'add', path: '/os_distro', value: 'debian' }], { properties: { os_distro: 'debian' } }],
    ['replaces a property', [{ op: 'replace', path: '/os_distro', value: 'debian' }], { properties: { os_distro: 'debian' } }],
    ['removes a property', [{ op: 'remove', path: '/os_distro' }], { properties: {} }],
    ['unescapes JSON pointers', [{ op: 'add', path: '/a~1b~0c', value: 'x' }], { properties: { os_distro: 'cirros', 'a/b~c': 'x' } }],
    ['sets min_disk, min_ram, protected, os_hidden',
      [{ op: 'replace', path: '/min_disk', value: 2 }, { op: 'replace', path: '/min_ram', value: 512 }, { op: 'replace', path: '/protected', value: true }, { op: 'replace', path: '/os_hidden', value: true }],
      { minDisk: 2, minRam: 512, protected: true, hidden: true }],
    ['sets tags, without duplicates', [{ op: 'add', path: '/tags', value: ['a', 'b', 'a'] }], { tags: ['a', 'b'] }],
    ['makes an image private or community', [{ op: 'replace', path: '/visibility', value: 'community' }], { visibility: 'community' }],
    ['changes formats while queued', [{ op: 'replace', path: '/disk_format', value: 'raw' }], { diskFormat: 'raw' }],
    ['applies operations in order', [{ op: 'add', path: '/x', value: '1' }, { op: 'remove', path: '/x' }], {}],
  ];
  it.each(applied)('%s', (_name, patch, changes, status = 'queued') => {
    expect(applyPatch(base(), patch, member, status)).toEqual({ ...base(), ...changes });
  });

  it('lets an admin publish an image and give it to another project', () => {
    const patch = [{ op: 'replace', path: '/visibility', value: 'public' }, { op: 'replace', path: '/owner', value: 'p2' }];
    expect(applyPatch(base(), patch, admin, 'active')).toMatchObject({ visibility: 'public', projectId: 'p2' });
  });

  const refused: Array<[string, unknown, Function, RegExp, string?]> = [
    ['a body that is not a list', { op: 'add' }, ValidationError, /JSON array/],
    ['an unknown operation', [{ op: 'move', path: '/name', from: '/x' }], ValidationError, /Invalid operation/],
    ['a missing value', [{ op: 'add', path: '/name' }], ValidationError, /requires a member named "value"/],
    ['a nested path', [{ op: 'add', path: '/tags/0', value: 'x' }], ValidationError, /Invalid JSON pointer/],
    ['a path without a slash', [{ op: 'add', path: 'name', value: 'x' }], ValidationError, /Invalid JSON pointer/],
    ['a read-only attribute', [{ op: 'replace', path: '/status', value: 'active' }], ForbiddenError, /Attribute 'status' is read-only/],
    ['the checksum', [{ op: 'replace', path: '/checksum', value: 'x' }], ForbiddenError, /read-only/],
    ['the id', [{ op: 'replace', path: '/id', value: 'x' }], ForbiddenError, /read-only/],
    ['a reserved attribute', [{ op: 'add', path: '/deleted', value: 'x' }], ForbiddenError, /reserved/],
    ['locations', [{ op: 'add', path: '/locations', value: [] }], ForbiddenError, /reserved/],
    ['the os_glance namespace', [{ op: 'add', path: '/os_glance_import_task', value: 'x' }], ForbiddenError, /reserved/],
    ['removing a core attribute', [{ op: 'remove', path: '/name' }], ForbiddenError, /may not be removed/],
    ['removing a missing property', [{ op: 'remove', path: '/nope' }], ConflictError, /does not exist/],
    ['replacing a missing property', [{ op: 'replace', path: '/nope', value: 'x' }], ConflictError, /does not exist/],
    ['a property that is not a string', [{ op: 'add', path: '/hw_cpu_cores', value: 2 }], ValidationError, /is not of type 'string'/],
    ['min_ram as a string', [{ op: 'replace', path: '/min_ram', value: '512' }], ValidationError, /is not of type 'integer'/],
    ['a negative min_disk', [{ op: 'replace', path: '/min_disk', value: -1 }], ValidationError, /minimum of 0/],
    ['protected as a string', [{ op: 'replace', path: '/protected', value: 'yes' }], ValidationError, /'boolean'/],
    ['an unknown visibility', [{ op: 'replace', path: '/visibility', value: 'everyone' }], ValidationError, /is not one of/],
    ['a disk format nobody offers', [{ op: 'replace', path: '/disk_format', value: 'vmdk' }], ValidationError, /'vmdk' is not one of/],
    ['a name too long', [{ op: 'replace', path: '/name', value: 'x'.repeat(256) }], ValidationError, /too long/],
    ['publishing as a member', [{ op: 'replace', path: '/visibility', value: 'public' }], ForbiddenError, /publicize_image/],
    ['giving the image away as a member', [{ op: 'replace', path: '/owner', value: 'p2' }], ForbiddenError, /owner/],
    ['changing formats of an active image', [{ op: 'replace', path: '/disk_format', value: 'raw' }], ForbiddenError, /only when image is in queued status/, 'active'],
  ];
  it.each(refused)('refuses %s', (_name, patch, type, message, status = 'queued') => {
    const image = base();
    let error: unknown;
    try {
      applyPatch(image, patch, member, status);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    expect(image).toEqual(base());
  });
});
