import { parseQemuImgInfo, qemuImgInfoArgv } from './qemu-img-info';

describe('qemu-img info', () => {
  describe('qemuImgInfoArgv', () => {
    it('runs qemu-img under prlimit with an explicit format, as an argument array', () => {
      expect(qemuImgInfoArgv('/images/tmp/x.part', 'qcow2', { cpuSeconds: 30, addressSpaceBytes: 1073741824, timeoutMs: 60_000 })).toEqual([
        '--cpu=30', '--as=1073741824', '--', 'qemu-img', 'info', '--output=json', '-f', 'qcow2', '/images/tmp/x.part',
      ]);
    });
  });

  describe('parseQemuImgInfo', () => {
    it.each([
      ['a plain qcow2', { 'virtual-size': 67108864, format: 'qcow2', 'format-specific': { type: 'qcow2', data: { compat: '1.1' } } }, { format: 'qcow2', virtualSize: 67108864 }],
      ['a backing file', { 'virtual-size': 1048576, format: 'qcow2', 'backing-filename': 'base.raw' }, { format: 'qcow2', virtualSize: 1048576, backingFilename: 'base.raw' }],
      ['a data file', { 'virtual-size': 16, format: 'qcow2', 'format-specific': { data: { 'data-file': 'data.raw' } } }, { format: 'qcow2', virtualSize: 16, dataFile: 'data.raw' }],
      ['raw', { 'virtual-size': 512, format: 'raw' }, { format: 'raw', virtualSize: 512 }],
    ])('reads %s', (_name, json, expected) => {
      expect(parseQemuImgInfo(JSON.stringify(json))).toEqual({ backingFilename: undefined, dataFile: undefined, ...expected });
    });

    it('refuses output without a virtual size', () => {
      expect(() => parseQemuImgInfo('{"format":"raw"}')).toThrow(/no virtual size/);
    });
  });
});
