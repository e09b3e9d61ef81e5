import { ValidationError } from '@nubo/contracts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertExportName, convertArgs, nbdServerArgs, nbdUri, newExportName } from './qemu-disk-transfer';
import { toolCommand } from './qemu-disk-transfer-process';

/** UPDATE_GOLDEN=1 rewrites the file (review the diff). One argument a line. */
function expectGolden(args: string[], name: string): void {
  const dir = join(__dirname, '__golden__', 'cold-migration');
  const file = join(dir, `${name}.argv.txt`);
  const text = `${args.join('\n')}\n`;
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

const ID = '0f6b5a38-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const DIR = `/var/lib/nubo/hosts/h2/instances/${ID}`;
const NAME = 'disk-0123456789abcdef0123456789abcdef';
const BASE_QCOW2 = { path: `/var/lib/nubo/hosts/h2/images/${'a'.repeat(64)}`, format: 'qcow2' as const };
const BASE_RAW = { path: `/var/lib/nubo/hosts/h1/images/${'b'.repeat(64)}`, format: 'raw' as const };

describe('qemu-disk-transfer', () => {
  describe(nbdServerArgs.name, () => {
    it.each([
      ['nbd-root-qcow2-base', { target: `${DIR}/disk.qcow2`, base: BASE_QCOW2, address: '10.77.0.12', port: 49500, exportName: NAME, pidfile: `${DIR}/nbd-disk.pid` }],
      ['nbd-ephemeral', { target: `${DIR}/ephemeral.qcow2`, address: 'fd00::12', port: 49501, exportName: 'ephemeral-00112233445566778899aabbccddeeff', pidfile: `${DIR}/nbd-ephemeral.pid` }],
    ])('renders %s', (name, o) => expectGolden(nbdServerArgs(o), name));

    it('refuses a listen address that is no IP', () => {
      expect(() => nbdServerArgs({ target: 't', address: '0.0.0.0 --fork', port: 1, exportName: NAME, pidfile: 'p' })).toThrow(ValidationError);
    });
  });

  describe(convertArgs.name, () => {
    it.each([
      // The root disk: its top layer only (-B), read through an explicit chain.
      ['convert-root-raw-base', { source: `${DIR}/disk.qcow2`, base: BASE_RAW, destination: { address: '10.77.0.12', port: 49500, name: NAME } }],
      // The ephemeral disk: whole, into a blank target.
      ['convert-ephemeral-ipv6', { source: `${DIR}/ephemeral.qcow2`, destination: { address: 'fd00::12', port: 49501, name: 'ephemeral-00112233445566778899aabbccddeeff' } }],
    ])('renders %s', (name, o) => expectGolden(convertArgs(o), name));

    it('never lets a base name be followed from an image header', () => {
      const args = convertArgs({ source: `${DIR}/disk.qcow2`, base: BASE_QCOW2, destination: { address: '10.0.0.1', port: 1, name: NAME } });
      const chain = JSON.parse(args.find((a) => a.startsWith('json:'))!.slice(5));
      expect(chain).toEqual({ driver: 'qcow2', file: { driver: 'file', filename: `${DIR}/disk.qcow2` }, backing: { driver: 'qcow2', file: { driver: 'file', filename: BASE_QCOW2.path }, backing: null } });
    });
  });

  describe('export names and URIs', () => {
    it('makes a new 128-bit name each time, valid for its disk', () => {
      const a = newExportName('disk');
      const b = newExportName('disk');
      expect(a).not.toBe(b);
      expect(assertExportName(a)).toBe(a);
      expect(newExportName('ephemeral')).toMatch(/^ephemeral-[0-9a-f]{32}$/);
    });

    it.each([['disk'], ['disk-xyz'], ['disk-0123/../x'], [`disk-${'0'.repeat(31)}`], [42], ['x'.repeat(100)]])('refuses %j', (name) => {
      expect(() => assertExportName(name)).toThrow(ValidationError);
    });

    it.each([
      ['10.77.0.3', 49408, 'nbd://10.77.0.3:49408/'],
      ['fd00::3', 49663, 'nbd://[fd00::3]:49663/'],
    ])('%s:%d -> %s<name>', (address, port, prefix) => expect(nbdUri(address, port, NAME)).toBe(`${prefix}${NAME}`));

    it('refuses an address that is no IP', () => expect(() => nbdUri('h2.example', 1, NAME)).toThrow(ValidationError));
  });

  describe(toolCommand.name, () => {
    const user = { name: 'nubo-qemu', uid: 999, gid: 998, groups: [998] };
    it.each([
      ['as the agent, no namespace', {}, ['qemu-nbd', ['--version']]],
      ['in a namespace', { netns: 'nubo-h2' }, ['ip', ['netns', 'exec', 'nubo-h2', 'qemu-nbd', '--version']]],
      [
        'in a namespace, as QEMU user',
        { netns: 'nubo-h2', user, resolve: () => '/usr/bin/qemu-nbd' },
        ['ip', ['netns', 'exec', 'nubo-h2', 'setpriv', '--reuid=999', '--regid=998', '--init-groups', '--inh-caps=-all', '--no-new-privs', '--', '/usr/bin/qemu-nbd', '--version']],
      ],
    ])('%s', (_what, o, [file, args]) => expect(toolCommand('qemu-nbd', ['--version'], o)).toEqual({ file, args }));

    it('says a missing binary the way spawn does', () => {
      expect(() => toolCommand('qemu-nbd', [], { user, resolve: () => undefined })).toThrow('spawn qemu-nbd ENOENT');
    });
  });
});
