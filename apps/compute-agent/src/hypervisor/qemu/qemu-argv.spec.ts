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

/** The values of every `option` in argv, in order. */
const valuesOf = (argv: string[], option: string) => argv.flatMap((arg, i) => (argv[i - 1] === option ? [arg] : []));
/** The JSON value of every -blockdev, in order. */
const blockdevs = (argv: string[]) => valuesOf(argv, '-blockdev').map((value) => JSON.parse(value));

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(argv: string[], file: string): void {
  const text = `${argv.join('\n')}\n`;
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('instancePaths', () => {
  it('puts only the disks of a shared-storage instance on shared storage', () => {
    const local = instancePaths('/var/lib/nubo', serverId);
    const shared = instancePaths('/var/lib/nubo', serverId, '/mnt/shared');
    expect(local.sharedDisks).toBeUndefined();
    expect(shared).toEqual({
      ...local,
      disk: `/mnt/shared/instances/${serverId}/disk.qcow2`,
      ephemeral: `/mnt/shared/instances/${serverId}/ephemeral.qcow2`,
      sharedDisks: `/mnt/shared/instances/${serverId}`,
    });
  });
});

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
    expect(valuesOf(argv, '-device')).toContain(`virtio-blk-pci,drive=${NODE.disk},id=disk0,bootindex=1`);
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
    expect(argv).toContain(`socket,id=serial0,path=${dir}/serial.sock,server=on,wait=off,logfile=${dir}/console.log,logappend=on`);
    expect(argv).toContain(`vnc=unix:${dir}/vnc.sock`);
    // -pidfile takes a plain file name.
    expect(argv[argv.indexOf('-pidfile') + 1]).toBe(`/srv/a,b/instances/${serverId}/qemu.pid`);
  });

  it('puts the serial console on a UNIX socket that QEMU also logs, appending across starts', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    const dir = `/var/lib/nubo/instances/${serverId}`;
    expect(valuesOf(argv, '-chardev')).toContain(`socket,id=serial0,path=${dir}/serial.sock,server=on,wait=off,logfile=${dir}/console.log,logappend=on`);
    expect(valuesOf(argv, '-serial')).toEqual(['chardev:serial0']);
  });

  it('serves VNC on a UNIX socket only (never TCP), with a VGA to show', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    expect(valuesOf(argv, '-vnc')).toEqual([`vnc=unix:/var/lib/nubo/instances/${serverId}/vnc.sock`]);
    expect(valuesOf(argv, '-device')).toContain('VGA,id=video0');
  });

  it('has pvpanic with an explicit shutdown on panic, and a balloon that deflates on OOM', () => {
    const argv = buildQemuArgv({ spec, paths: instancePaths('/var/lib/nubo', serverId), accelerator: 'kvm' });
    expect(valuesOf(argv, '-device')).toEqual(expect.arrayContaining(['pvpanic,id=panic0', 'virtio-balloon-pci,id=balloon0,deflate-on-oom=on']));
    expect(valuesOf(argv, '-action')).toEqual(['panic=shutdown']);
    // QEMU exits when the guest powers off or panics: no -no-shutdown.
    expect(argv).not.toContain('-no-shutdown');
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

describe('buildQemuArgv: guest fields', () => {
  const paths = instancePaths('/var/lib/nubo', serverId);
  const typical = {
    ...withDisk,
    vcpus: 2,
    ramMb: 512,
    diskGb: 10,
    name: 'web-1',
    metadata: { role: 'db', tier: 'gold' },
    ephemeralGb: 1,
    topology: { sockets: 1, cores: 2, threads: 1 },
    nics: [{ mac: 'fa:16:3e:12:34:56', tap: 'tap3f2b8c1e-4d', mtu: 1450 }],
  };

  it('matches the golden argv of a typical server (name, metadata, ephemeral disk, topology, one NIC)', () => {
    expectGolden(buildQemuArgv({ spec: typical, paths, accelerator: 'kvm', image: cached }), join(__dirname, '__golden__', 'typical-server.argv.txt'));
  });

  it('matches the golden argv of disks on virtio-scsi (hw_disk_bus=scsi) with an ephemeral disk', () => {
    const spec = { ...withDisk, diskBus: 'scsi' as const, ephemeralGb: 2 };
    const argv = buildQemuArgv({ spec, paths, accelerator: 'kvm', image: cached });
    expect(valuesOf(argv, '-device').filter((d) => /scsi/.test(d))).toEqual([
      'virtio-scsi-pci,id=scsi0',
      `scsi-hd,drive=${NODE.disk},bus=scsi0.0,id=disk0,bootindex=1`,
      `scsi-hd,drive=${NODE.ephemeral},bus=scsi0.0,id=disk1`,
    ]);
    expectGolden(argv, join(__dirname, '__golden__', 'scsi-ephemeral.argv.txt'));
  });

  it('matches the golden argv of an ISO boot with an ephemeral disk and two NICs: CD-ROM first, NICs after', () => {
    const spec = {
      ...withDisk,
      image: { ...image, diskFormat: 'iso' as const },
      ephemeralGb: 5,
      nics: [
        { mac: 'fa:16:3e:00:00:01', tap: 'tap-a' },
        { mac: 'fa:16:3e:00:00:02', tap: 'tap-b', mtu: 9000 },
      ],
    };
    const argv = buildQemuArgv({ spec, paths, accelerator: 'kvm', image: { ...cached, format: 'iso' } });
    expect(valuesOf(argv, '-device').filter((d) => /bootindex|drive=/.test(d))).toEqual([
      `ide-cd,drive=${NODE.cdrom},bus=ide.0,id=cdrom0,bootindex=1`,
      `virtio-blk-pci,drive=${NODE.ephemeral},id=disk1`,
      'virtio-net-pci,netdev=net0,mac=fa:16:3e:00:00:01,id=nic0,bus=rp-nic0,bootindex=2',
      'virtio-net-pci,netdev=net1,mac=fa:16:3e:00:00:02,id=nic1,host_mtu=9000,bus=rp-nic1,bootindex=3',
    ]);
    expect(valuesOf(argv, '-netdev')).toEqual(['tap,id=net0,ifname=tap-a,script=no,downscript=no', 'tap,id=net1,ifname=tap-b,script=no,downscript=no']);
    expectGolden(argv, join(__dirname, '__golden__', 'iso-ephemeral-nics.argv.txt'));
  });

  it('gives the ephemeral disk its own standalone qcow2 chain (no backing), with or without a root disk', () => {
    for (const spec of [{ ...spec0(), ephemeralGb: 1 }, { ...withDisk, ephemeralGb: 1 }]) {
      const argv = buildQemuArgv({ spec, paths: instancePaths('/srv/a,b', serverId), accelerator: 'kvm', image: cached });
      expect(blockdevs(argv).slice(-2)).toEqual([
        { driver: 'file', filename: `/srv/a,b/instances/${serverId}/ephemeral.qcow2`, 'node-name': NODE.ephemeralFile },
        { driver: 'qcow2', file: NODE.ephemeralFile, backing: null, 'node-name': NODE.ephemeral },
      ]);
    }
    expect(buildQemuArgv({ spec: withDisk, paths, accelerator: 'kvm', image: cached }).join(' ')).not.toContain('ephemeral');
  });

  it('adds no SCSI controller when no disk is on it', () => {
    expect(buildQemuArgv({ spec: { ...spec0(), diskBus: 'scsi' }, paths, accelerator: 'kvm' }).join(' ')).not.toContain('scsi');
  });

  it.each([
    [undefined, '2'],
    [{ sockets: 2, cores: 1, threads: 1 }, '2,sockets=2,cores=1,threads=1'],
    [{ sockets: 1, cores: 1, threads: 2 }, '2,sockets=1,cores=1,threads=2'],
  ])('writes topology %j as -smp %s', (topology, smp) => {
    const argv = buildQemuArgv({ spec: { ...spec0(), ...(topology ? { topology } : {}) }, paths, accelerator: 'kvm' });
    expect(valuesOf(argv, '-smp')).toEqual([smp]);
  });

  it('always tells the guest its id in SMBIOS type 1, and adds type 11 only with a name or metadata', () => {
    const argv = buildQemuArgv({ spec, paths, accelerator: 'kvm' });
    expect(valuesOf(argv, '-smbios')).toEqual([`type=1,manufacturer=Nubo,product=Nubo Compute,serial=${serverId},uuid=${serverId}`]);
    expect(valuesOf(buildQemuArgv({ spec: { ...spec, name: 'n' }, paths, accelerator: 'kvm' }), '-smbios')[1]).toBe('type=11,value=io.nubo.name:n');
  });
});

/** A fresh copy of the firmware-only spec. */
function spec0() {
  return { ...spec };
}

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
