import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleTail, readConsoleLog, trimConsoleLog } from './console-log';

describe('consoleTail', () => {
  const log = Buffer.from('one\ntwo\nthree\n');

  it.each([
    [undefined, 'one\ntwo\nthree\n'],
    [0, ''],
    [1, 'three\n'],
    [2, 'two\nthree\n'],
    [3, 'one\ntwo\nthree\n'],
    [10, 'one\ntwo\nthree\n'],
  ])('lines=%s gives %j', (lines, expected) => {
    expect(consoleTail(log, { lines })).toBe(expected);
  });

  it('counts an unfinished last line as a line', () => {
    expect(consoleTail(Buffer.from('a\nb\nc'), { lines: 2 })).toBe('b\nc');
  });

  it('drops control characters but tab and newline, as Nova does', () => {
    expect(consoleTail(Buffer.from('\x1b[2Jboot\r\n\tok\x07\n'), {})).toBe('[2Jboot\n\tok\n');
  });

  it('drops the partial first line of a truncated tail', () => {
    expect(consoleTail(Buffer.from('tial line\nwhole\n'), { truncated: true })).toBe('whole\n');
    expect(consoleTail(Buffer.from('no line break at all'), { truncated: true })).toBe('');
  });
});

describe('readConsoleLog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-console-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is empty when the guest printed nothing yet (no file)', async () => {
    await expect(readConsoleLog(join(dir, 'missing.log'))).resolves.toBe('');
  });

  it('reads at most maxBytes from the end, whole lines only', async () => {
    const path = join(dir, 'console.log');
    writeFileSync(path, `${'x'.repeat(100)}\nline-1\nline-2\n`);
    await expect(readConsoleLog(path, { maxBytes: 10 })).resolves.toBe('line-2\n');
    await expect(readConsoleLog(path, { lines: 2 })).resolves.toBe('line-1\nline-2\n');
  });
});

describe('trimConsoleLog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-console-trim-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the tail of a log past the threshold', async () => {
    const path = join(dir, 'big.log');
    writeFileSync(path, 'a'.repeat(100) + 'b'.repeat(20));
    expect(await trimConsoleLog(path, { keepBytes: 20, atBytes: 64 })).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('b'.repeat(20));
  });

  it('leaves a small log and a missing one alone', async () => {
    const path = join(dir, 'small.log');
    writeFileSync(path, 'booted\n');
    expect(await trimConsoleLog(path, { keepBytes: 4, atBytes: 64 })).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('booted\n');
    expect(await trimConsoleLog(join(dir, 'none.log'))).toBe(false);
  });
});
