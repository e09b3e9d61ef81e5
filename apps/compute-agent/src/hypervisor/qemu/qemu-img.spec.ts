import { UnsafeImageError, blankQcow2Command, checkImageInfo, flattenCommand, infoCommand, overlayCommand } from './qemu-img';

const qcow2 = { format: 'qcow2', 'virtual-size': 1 << 30, 'format-specific': { type: 'qcow2', data: { compat: '1.1' } } };

describe('checkImageInfo', () => {
  it('returns the format and virtual size of a plain image', () => {
    expect(checkImageInfo(qcow2, 'qcow2')).toEqual({ format: 'qcow2', virtualSize: 1 << 30 });
    expect(checkImageInfo({ format: 'raw', 'virtual-size': 4096 }, 'raw')).toEqual({ format: 'raw', virtualSize: 4096 });
  });

  it.each([
    ['a backing file', { ...qcow2, 'backing-filename': '/etc/shadow' }, /backing file/],
    ['a resolved backing file only', { ...qcow2, 'full-backing-filename': '/etc/shadow' }, /backing file/],
    ['an external data file', { ...qcow2, 'format-specific': { type: 'qcow2', data: { 'data-file': '/dev/sda' } } }, /data file/],
    ['another format', { ...qcow2, format: 'vmdk' }, /not qcow2/],
    ['no virtual size', { format: 'qcow2' }, /virtual size/],
    ['a negative virtual size', { ...qcow2, 'virtual-size': -1 }, /virtual size/],
    ['nothing', null, /nothing useful/],
  ])('refuses an image with %s', (_what, info, message) => {
    expect(() => checkImageInfo(info, 'qcow2')).toThrow(UnsafeImageError);
    expect(() => checkImageInfo(info, 'qcow2')).toThrow(message);
  });
});

describe('infoCommand', () => {
  it('runs qemu-img info under CPU and memory limits with an explicit format', () => {
    expect(infoCommand('/var/lib/nubo/images/abc', 'raw')).toEqual({
      file: 'prlimit',
      args: ['--cpu=30', '--as=1073741824', 'qemu-img', 'info', '--output=json', '-f', 'raw', '/var/lib/nubo/images/abc'],
    });
  });
});

describe('overlayCommand', () => {
  it('creates a qcow2 with an explicit backing format and size in bytes', () => {
    const command = overlayCommand({ base: '/c/base', baseFormat: 'raw', overlay: '/i/disk.qcow2', sizeBytes: 2 ** 30 });
    expect(command).toEqual({
      file: 'qemu-img',
      args: ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/c/base', '/i/disk.qcow2', '1073741824'],
    });
  });
});

describe('flattenCommand', () => {
  it.each([
    ['raw', { driver: 'raw', file: { driver: 'file', filename: '/c/a,b' } }],
    ['qcow2', { driver: 'qcow2', file: { driver: 'file', filename: '/c/a,b' }, backing: null }],
  ] as const)('names the whole chain on a %s base explicitly and writes a qcow2', (format, base) => {
    const command = flattenCommand({ overlay: '/i/disk.qcow2', base: { path: '/c/a,b', format }, target: '/i/snapshot.qcow2' });
    expect(command.args.slice(0, 4)).toEqual(['convert', '-q', '-O', 'qcow2']);
    expect(command.args).not.toContain('-f');
    expect(command.args[4].startsWith('json:')).toBe(true);
    expect(JSON.parse(command.args[4].slice(5))).toEqual({ driver: 'qcow2', file: { driver: 'file', filename: '/i/disk.qcow2' }, backing: base });
    expect(command.args[5]).toBe('/i/snapshot.qcow2');
  });
});

describe('blankQcow2Command', () => {
  it('creates a qcow2 without backing, sized in bytes', () => {
    expect(blankQcow2Command('/i/snapshot.qcow2', 2 ** 30)).toEqual({ file: 'qemu-img', args: ['create', '-q', '-f', 'qcow2', '/i/snapshot.qcow2', '1073741824'] });
  });
});
