import { ConvertProgressParser, ConvertSpec, qemuImgConvertArgv } from './qemu-img-convert';

const limits = { cpuSeconds: 600, addressSpaceBytes: 2147483648, timeoutMs: 1000 };
const spec = (over: Partial<ConvertSpec> = {}): ConvertSpec => ({
  source: '/images/sha256/ab/abcd',
  sourceFormat: 'qcow2',
  target: '/images/tmp/x.convert',
  targetFormat: 'raw',
  compress: false,
  ...over,
});

describe('qemuImgConvertArgv', () => {
  it.each([
    ['qcow2 to raw', spec(), ['-f', 'qcow2', '-O', 'raw', '/images/sha256/ab/abcd', '/images/tmp/x.convert']],
    ['raw to qcow2', spec({ sourceFormat: 'raw', targetFormat: 'qcow2' }), ['-f', 'raw', '-O', 'qcow2', '/images/sha256/ab/abcd', '/images/tmp/x.convert']],
    ['raw to compressed qcow2', spec({ sourceFormat: 'raw', targetFormat: 'qcow2', compress: true }), ['-f', 'raw', '-O', 'qcow2', '-c', '/images/sha256/ab/abcd', '/images/tmp/x.convert']],
    ['qcow2 to compressed qcow2', spec({ targetFormat: 'qcow2', compress: true }), ['-f', 'qcow2', '-O', 'qcow2', '-c', '/images/sha256/ab/abcd', '/images/tmp/x.convert']],
  ])('converts %s with explicit formats under prlimit', (_name, input, tail) => {
    expect(qemuImgConvertArgv(input, limits)).toEqual(['--cpu=600', '--as=2147483648', '--', 'qemu-img', 'convert', '-p', ...tail]);
  });

  it.each([
    ['compression to raw', spec({ compress: true }), /compression needs a qcow2 target/],
    ['a relative source', spec({ source: '-f' }), /absolute paths/],
    ['a relative target', spec({ target: 'out.raw' }), /absolute paths/],
  ])('refuses %s', (_name, input, message) => {
    expect(() => qemuImgConvertArgv(input, limits)).toThrow(message);
  });
});

describe('ConvertProgressParser', () => {
  it.each([
    ['one complete report', ['    (0.00/100%)\r'], [0]],
    ['several reports in one chunk: the latest', ['    (1.25/100%)\r    (2.50/100%)\r'], [2.5]],
    ['a report cut across chunks', ['    (12.', '50/100%)\r'], [undefined, 12.5]],
    ['the final report with a newline', ['    (100.00/100%)\r    (100.00/100%)\n'], [100]],
    ['an unfinished report: not yet', ['    (33.00/100%)'], [undefined]],
    ['noise', ['qemu-img: warning\n'], [undefined]],
    ['an out-of-range value, capped', ['    (250.00/100%)\r'], [100]],
  ])('reads %s', (_name, chunks, expected) => {
    const parser = new ConvertProgressParser();
    expect(chunks.map((c) => parser.push(c))).toEqual(expected);
  });

  it('keeps a bounded tail when no line ever ends', () => {
    const parser = new ConvertProgressParser();
    expect(parser.push('x'.repeat(10_000))).toBeUndefined();
    expect(parser.push('\r    (5.00/100%)\r')).toBe(5);
  });
});
