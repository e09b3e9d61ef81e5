import { parseByteRange } from './byte-range';

describe('parseByteRange', () => {
  it.each([
    ['no header', undefined, 100, undefined],
    ['a closed range', 'bytes=0-9', 100, { start: 0, end: 9 }],
    ['an open range', 'bytes=90-', 100, { start: 90, end: 99 }],
    ['a range past the end, clipped', 'bytes=90-500', 100, { start: 90, end: 99 }],
    ['a suffix', 'bytes=-10', 100, { start: 90, end: 99 }],
    ['a suffix longer than the file', 'bytes=-500', 100, { start: 0, end: 99 }],
    ['a start past the end', 'bytes=100-', 100, 'unsatisfiable'],
    ['an empty suffix', 'bytes=-0', 100, 'unsatisfiable'],
    ['an inverted range', 'bytes=9-0', 100, 'unsatisfiable'],
    ['several ranges: served whole', 'bytes=0-1,5-6', 100, undefined],
    ['another unit: served whole', 'items=0-1', 100, undefined],
    ['nonsense: served whole', 'bytes=-', 100, undefined],
  ])('reads %s', (_name, header, size, expected) => {
    expect(parseByteRange(header, size)).toEqual(expected);
  });
});
