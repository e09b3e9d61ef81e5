import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildQemuArgv, instancePaths } from './qemu-argv';
import { SMBIOS_OEM_BUDGET, oemStrings, smbiosArgs } from './qemu-smbios';

const serverId = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';
const base = { serverId, vcpus: 1, ramMb: 64, diskGb: 0 };

/**
 * How QEMU's option parser (util/qemu-option.c) reads `key=value,key=value`: a value runs to the
 * next single comma, and `,,` is a literal comma. Returns [key, value] pairs in order.
 */
function parseQemuOpts(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    const key = text.slice(i, eq);
    let value = '';
    for (i = eq + 1; i < text.length; i++) {
      if (text[i] === ',' && text[i + 1] === ',') {
        value += ',';
        i++;
      } else if (text[i] === ',') break;
      else value += text[i];
    }
    pairs.push([key, value]);
    i++;
  }
  return pairs;
}

/** User text that must reach the guest exactly as given. */
const HOSTILE = [
  'plain',
  'a,b',
  ',,',
  'a,,b,',
  ',id=evil,value=x',
  'key=value=more',
  `"double" and 'single' quotes`,
  'line one\nline two\r\n\ttab',
  '-name',
  '--help',
  'help',
  '?',
  'ünïcödé 名前 \u{1F600}',
  '\u001b[31mred\u001b[0m',
  ' leading and trailing space ',
];

describe('smbiosArgs', () => {
  it.each(HOSTILE.map((text) => [JSON.stringify(text), text]))('gives QEMU the name %s back exactly, and adds no option', (_shown, name) => {
    const [, type11] = smbiosArgs({ ...base, name }).filter((_, i) => i % 2 === 1);
    expect(parseQemuOpts(type11)).toEqual([
      ['type', '11'],
      ['value', `io.nubo.name:${name}`],
    ]);
  });

  it('gives QEMU every hostile metadata key and value back exactly, keys sorted, ":" and "%" encoded in keys', () => {
    const metadata = Object.fromEntries(HOSTILE.map((text, i) => [`k${String(i).padStart(2, '0')}${text}`, text]));
    metadata['a:b%c'] = 'x:y';
    const [, type11] = smbiosArgs({ ...base, metadata }).filter((_, i) => i % 2 === 1);
    const values = parseQemuOpts(type11).slice(1);
    expect(values.every(([key]) => key === 'value')).toBe(true);
    const expected = Object.keys(metadata)
      .sort()
      .map((key) => `io.nubo.meta.${key.replace(/%/g, '%25').replace(/:/g, '%3A')}:${metadata[key]}`);
    expect(values.map(([, value]) => value)).toEqual(expected);
    expect(expected).toContain('io.nubo.meta.a%3Ab%25c:x:y');
  });

  it('matches the golden argv of hostile names and metadata', () => {
    const spec = {
      ...base,
      name: '--help,id=x,,"quoted" \'single\'\nnew line -name ünï',
      metadata: Object.fromEntries(HOSTILE.map((text, i) => [`${i},${text}`, text])),
    };
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    // JSON lines: the golden shows every argv string exactly, newlines included.
    const text = `${argv.map((arg) => JSON.stringify(arg)).join('\n')}\n`;
    const golden = join(__dirname, '__golden__', 'hostile-text.argv.jsonl');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
    expect(text).toBe(readFileSync(golden, 'utf8'));
    // The user text never became an argv element of its own, so never an option of QEMU's.
    const plain = buildQemuArgv({ spec: { ...base, name: 'n', metadata: { k: 'v' } }, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    expect(argv.length).toBe(plain.length);
    expect(argv.filter((arg) => arg.startsWith('-'))).toEqual(plain.filter((arg) => arg.startsWith('-')));
  });

  it('keeps the id in type 1 and the process name out of reach of user text', () => {
    const argv = smbiosArgs({ ...base, name: `x,uuid=00000000-0000-0000-0000-000000000000` });
    expect(parseQemuOpts(argv[1])).toEqual([
      ['type', '1'],
      ['manufacturer', 'Nubo'],
      ['product', 'Nubo Compute'],
      ['serial', serverId],
      ['uuid', serverId],
    ]);
  });
});

describe('oemStrings', () => {
  it('is empty without a name or metadata, and keeps an empty name', () => {
    expect(oemStrings({})).toEqual([]);
    expect(oemStrings({ name: '' })).toEqual(['io.nubo.name:']);
  });

  it('keeps within its budget: the name always, then whole items in key order, then how many were left out', () => {
    const metadata = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`k${String(i).padStart(3, '0')}${'k'.repeat(251)}`, 'é'.repeat(255)]));
    const strings = oemStrings({ name: '名'.repeat(255), metadata });
    const bytes = strings.reduce((sum, s) => sum + Buffer.byteLength(s) + 1, 0);
    expect(bytes).toBeLessThanOrEqual(SMBIOS_OEM_BUDGET);
    expect(strings[0]).toBe(`io.nubo.name:${'名'.repeat(255)}`);
    const kept = strings.filter((s) => s.startsWith('io.nubo.meta.'));
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.map((s) => s.slice('io.nubo.meta.'.length, 'io.nubo.meta.'.length + 4))).toEqual(Object.keys(metadata).slice(0, kept.length).map((k) => k.slice(0, 4)));
    expect(strings.at(-1)).toBe(`io.nubo.meta-omitted:${128 - kept.length}`);
  });

  it('leaves nothing out when everything fits', () => {
    expect(oemStrings({ metadata: { b: '2', a: '1' } })).toEqual(['io.nubo.meta.a:1', 'io.nubo.meta.b:2']);
  });
});
