import { ValidationError } from '@nubo/contracts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildQemuArgv, escapeOptionValue, instancePaths, maxStateDirLength } from './qemu-argv';
import { launchCommand } from './qemu-process';

const serverId = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';
const spec = { serverId, vcpus: 2, ramMb: 64, diskGb: 0 };
const golden = join(__dirname, '__golden__', 'firmware-only.argv.txt');

describe('buildQemuArgv', () => {
  it('matches the golden argv of a firmware-only guest', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    const text = `${argv.join('\n')}\n`;
    // UPDATE_GOLDEN=1 rewrites the file; review the diff before committing it.
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
    expect(text).toBe(readFileSync(golden, 'utf8'));
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
