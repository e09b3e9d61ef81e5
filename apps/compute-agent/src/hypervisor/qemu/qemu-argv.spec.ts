import { ValidationError } from '@nubo/contracts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseAccelerator } from './accelerator';
import { NODE, buildQemuArgv, escapeOptionValue, instancePaths, maxStateDirLength } from './qemu-argv';
import { launchCommand } from './qemu-process';

const serverId = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';
const spec = { serverId, vcpus: 2, ramMb: 64, diskGb: 0 };
const golden = join(__dirname, '__golden__', 'firmware-only.argv.txt');
const sha256 = 'c0ffee'.padEnd(64, '0');
const image = { id: 'cirros', sha256, sizeBytes: 1 << 20, diskFormat: 'qcow2' as const, url: 'http://127.0.0.1:9292/i' };
const withDisk = { ...spec, diskGb: 1, image };
const cached = { path: `/var/lib/nubo/images/${sha256}`, format: 'qcow2' as const };

/** The JSON value of every -blockdev, in order. */
const blockdevs = (argv: string[]) => argv.flatMap((arg, i) => (argv[i - 1] === '-blockdev' ? [JSON.parse(arg)] : []));

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(argv: string[], file: string): void {
  const text = `${argv.join('\n')}\n`;
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('buildQemuArgv', () => {
  it('matches the golden argv of a firmware-only guest', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    expectGolden(argv, golden);
  });

  it('matches the golden argv of a server with a root disk from a qcow2 image', () => {
    const argv = buildQemuArgv({ spec: withDisk, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm', image: cached });
    expectGolden(argv, join(__dirname, '__golden__', 'with-disk.argv.txt'));
  });

  it('matches the golden argv of a server whose image asks for TCG (hypervisor_type=qemu)', () => {
    const spec = { ...withDisk, accelerator: 'tcg' as const };
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: chooseAccelerator(spec.accelerator, 'kvm', () => true), image: cached });
    expect(argv[argv.indexOf('-accel') + 1]).toBe('tcg');
    expectGolden(argv, join(__dirname, '__golden__', 'with-disk-tcg.argv.txt'));
  });

  it('gives the whole disk chain explicitly: read-only base without backing, overlay on it, virtio-blk boots it', () => {
    const paths = instancePaths('/srv/a,b', serverId);
    const argv = buildQemuArgv({ spec: withDisk, paths, accelerator: 'kvm', image: cached });
    expect(blockdevs(argv)).toEqual([
      { driver: 'file', filename: `/var/lib/nubo/images/${sha256}`, 'node-name': NODE.baseFile, 'read-only': true },
      { driver: 'qcow2', file: NODE.baseFile, 'node-name': NODE.base, 'read-only': true, backing: null },
      // JSON syntax: a comma in a path needs no escaping.
      { driver: 'file', filename: `/srv/a,b/instances/${serverId}/disk.qcow2`, 'node-name': NODE.diskFile },
      { driver: 'qcow2', file: NODE.diskFile, backing: NODE.base, 'node-name': NODE.disk },
    ]);
    expect(argv[argv.indexOf('-device') + 1]).toBe(`virtio-blk-pci,drive=${NODE.disk},id=disk0,bootindex=1`);
  });

  it('opens a raw base as raw, with no backing option (raw has none)', () => {
    const raw = { ...withDisk, image: { ...image, diskFormat: 'raw' as const } };
    const argv = buildQemuArgv({ spec: raw, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm', image: { ...cached, format: 'raw' } });
    expect(blockdevs(argv)[1]).toEqual({ driver: 'raw', file: NODE.baseFile, 'node-name': NODE.base, 'read-only': true });
  });

  it('attaches an ISO read-only as a CD-ROM, with no overlay', () => {
    const iso = { ...withDisk, image: { ...image, diskFormat: 'iso' as const } };
    const argv = buildQemuArgv({ spec: iso, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm', image: { ...cached, format: 'iso' } });
    expect(blockdevs(argv)).toEqual([
      { driver: 'file', filename: cached.path, 'node-name': NODE.cdromFile, 'read-only': true },
      { driver: 'raw', file: NODE.cdromFile, 'node-name': NODE.cdrom, 'read-only': true },
    ]);
    expect(argv).toContain(`ide-cd,drive=${NODE.cdrom},bus=ide.0,id=cdrom0,bootindex=1`);
    expect(argv.join(' ')).not.toContain('disk.qcow2');
  });

  it.each([
    ['missing', undefined],
    ['of another format than the spec says', { ...cached, format: 'raw' as const }],
    ['at a relative path', { ...cached, path: 'images/x' }],
  ])('refuses a cached image %s', (_what, bad) => {
    expect(() => buildQemuArgv({ spec: withDisk, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm', image: bad })).toThrow();
  });

  it('waits for a migration stream when incoming (resume), and only then', () => {
    const paths = instancePaths('/var/lib/nubo', serverId);
    const incoming = buildQemuArgv({ spec, paths, accelerator: 'kvm', incoming: true });
    expect(incoming.slice(-2)).toEqual(['-incoming', 'defer']);
    expect(buildQemuArgv({ spec, paths, accelerator: 'kvm' })).not.toContain('-incoming');
  });

  it('escapes a comma in the state dir where QEMU parses options, and only there', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/srv/a,b', serverId), accelerator: 'tcg' });
    const dir = `/srv/a,,b/instances/${serverId}`;
    expect(argv).toContain(`socket,id=qmp,path=${dir}/qmp.sock,server=on,wait=off`);
    expect(argv).toContain(`socket,id=qmp-ops,path=${dir}/qmp-ops.sock,server=on,wait=off`);
    expect(argv).toContain(`file,id=serial0,path=${dir}/console.log`);
    // -pidfile takes a plain file name.
    expect(argv[argv.indexOf('-pidfile') + 1]).toBe(`/srv/a,b/instances/${serverId}/qemu.pid`);
  });

  it('puts no user text in the argv: the guest is named after the server id', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    expect(argv[argv.indexOf('-name') + 1]).toBe(`guest=nubo-${serverId}`);
    expect(argv[argv.indexOf('-uuid') + 1]).toBe(serverId);
  });

  it.each([
    ['kvm', 'kvm'],
    ['tcg', 'tcg'],
  ] as const)('uses -accel %s and a named CPU model, never -cpu host', (accelerator, expected) => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator });
    expect(argv[argv.indexOf('-accel') + 1]).toBe(expected);
    expect(argv[argv.indexOf('-cpu') + 1]).toBe('qemu64');
    expect(argv).not.toContain('host');
  });

  it.each([
    ['a server id that is not a UUID', { ...spec, serverId: 'x,id=evil' }],
    ['an upper-case UUID', { ...spec, serverId: serverId.toUpperCase() }],
    ['zero vcpus', { ...spec, vcpus: 0 }],
    ['fractional RAM', { ...spec, ramMb: 64.5 }],
    ['a string for RAM', { ...spec, ramMb: '64' as unknown as number }],
  ])('rejects %s', (_what, bad) => {
    expect(() =>
      buildQemuArgv({ spec: bad, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' }),
    ).toThrow(ValidationError);
  });

  it('rejects a state dir whose sockets would not fit in a UNIX socket address', () => {
    const long = `/${'d'.repeat(maxStateDirLength())}`;
    expect(() => buildQemuArgv({ spec, paths: instancePaths(long, serverId), accelerator: 'kvm' })).toThrow(/too long/);
    const fits = `/${'d'.repeat(maxStateDirLength() - 1)}`;
    expect(() => buildQemuArgv({ spec, paths: instancePaths(fits, serverId), accelerator: 'kvm' })).not.toThrow();
  });

  it('rejects a path with control characters', () => {
    expect(() => buildQemuArgv({ spec, paths: instancePaths('/srv/a\nb', serverId), accelerator: 'kvm' })).toThrow(
      /control characters/,
    );
  });
});

describe('escapeOptionValue', () => {
  it.each([
    ['/plain/path', '/plain/path'],
    ['/a,b', '/a,,b'],
    ['/a,,b,', '/a,,,,b,,'],
  ])('escapes %s as %s', (input, expected) => {
    expect(escapeOptionValue(input)).toBe(expected);
  });
});

describe('launchCommand', () => {
  it('runs QEMU directly without a namespace', () => {
    expect(launchCommand({ binary: 'qemu-system-x86_64', argv: ['-m', '64M'] })).toEqual({
      file: 'qemu-system-x86_64',
      args: ['-m', '64M'],
    });
  });

  it('runs QEMU through ip netns exec with a namespace', () => {
    expect(launchCommand({ binary: 'qemu-system-x86_64', argv: ['-m', '64M'], netns: 'nubo-h1' })).toEqual({
      file: 'ip',
      args: ['netns', 'exec', 'nubo-h1', 'qemu-system-x86_64', '-m', '64M'],
    });
  });
});
