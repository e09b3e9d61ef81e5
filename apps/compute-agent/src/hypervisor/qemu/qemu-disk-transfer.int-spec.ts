/**
 * The cold migration's disk copy with the real tools, on 127.0.0.1 (no namespace, no firewall:
 * the agent adds those around the same command lines): qemu-nbd exports a target overlay on a
 * second copy of the base, qemu-img convert writes the source's top layer into it. The guest's
 * view must be identical afterwards (qemu-img compare of the two chains), the base's data must
 * not have been copied into the target, a second copy must change nothing, and the daemonized
 * qemu-nbd must be found by its pidfile and stopped.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertArgs, nbdServerArgs, newExportName, qcow2Chain } from './qemu-disk-transfer';
import { finishTool, livePid, startTool, stopTool, toolCommand } from './qemu-disk-transfer-process';

const MiB = 2 ** 20;
const ID = '5d0c3a52-7f1e-4b7a-9c11-000000c01d00';
const have = (binary: string) => {
  try {
    execFileSync(binary, ['--version']);
    return true;
  } catch {
    return false;
  }
};

const qemuIo = (file: string, ...commands: string[]) => execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), file], { encoding: 'utf8' });
const map = (file: string) => JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' })) as Array<{ depth: number; data: boolean; zero: boolean; length: number }>;
const compare = (a: string, b: string) => execFileSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', a, b], { encoding: 'utf8' });

(have('qemu-nbd') && have('qemu-img') ? describe : describe.skip)('cold migration disk copy (qemu-nbd + qemu-img convert)', () => {
  // The server id in the paths: the tools' command lines name it, as livePid checks.
  const root = mkdtempSync(join(tmpdir(), 'nubo-cold-xfer-'));
  const src = join(root, 'src', ID);
  const dst = join(root, 'dst', ID);
  const port = 49900 + Math.floor(Math.random() * 90);
  const pids: number[] = [];

  beforeAll(() => {
    for (const dir of [src, dst]) execFileSync('mkdir', ['-p', dir]);
    // The base: 16 MiB of 0xaa; each host has its own copy of the same bytes.
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(src, 'base.raw'), `${16 * MiB}`]);
    execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0xaa 0 ${16 * MiB}`, join(src, 'base.raw')]);
    copyFileSync(join(src, 'base.raw'), join(dst, 'base.raw'));
    // The source overlay (32 MiB): data, a zeroed range over the base's data, data past the base's end.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', join(src, 'base.raw'), join(src, 'disk.qcow2'), `${32 * MiB}`]);
    qemuIo(join(src, 'disk.qcow2'), 'write -P 0x11 1M 64k', 'write -z 2M 128k', `write -P 0x22 20M 1M`);
    // The ephemeral disk: standalone, a little data.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(src, 'ephemeral.qcow2'), `${8 * MiB}`]);
    qemuIo(join(src, 'ephemeral.qcow2'), 'write -P 0x33 3M 4k');
  });

  afterAll(async () => {
    for (const pid of pids) await stopTool(pid, ID);
    rmSync(root, { recursive: true, force: true });
  });

  /** The destination's side: an empty target and its export, as prepare makes them. */
  async function serve(disk: 'disk' | 'ephemeral', p: number): Promise<{ name: string; pid: number }> {
    const target = join(dst, `${disk}.qcow2`);
    if (disk === 'disk') execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', join(dst, 'base.raw'), target, `${32 * MiB}`]);
    else execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', target, `${8 * MiB}`]);
    const name = newExportName(disk);
    const pidfile = join(dst, `nbd-${disk}.pid`);
    const base = disk === 'disk' ? { path: join(dst, 'base.raw'), format: 'raw' as const } : undefined;
    const args = nbdServerArgs({ target, base, address: '127.0.0.1', port: p, exportName: name, pidfile });
    const log = join(dst, `nbd-${disk}.log`);
    await finishTool('nbd', ID, await startTool(toolCommand('qemu-nbd', args, {}), log), log, Date.now() + 10_000);
    const pid = livePid(pidfile, ID)!;
    expect(pid).toBeGreaterThan(1);
    pids.push(pid);
    return { name, pid };
  }

  async function copy(disk: 'disk' | 'ephemeral', p: number, name: string): Promise<void> {
    const base = disk === 'disk' ? { path: join(src, 'base.raw'), format: 'raw' as const } : undefined;
    const args = convertArgs({ source: join(src, `${disk}.qcow2`), base, destination: { address: '127.0.0.1', port: p, name } });
    const log = join(src, `transfer-${disk}.log`);
    await finishTool('convert', ID, await startTool(toolCommand('qemu-img', args, {}), log), log, Date.now() + 60_000);
  }

  it('copies the root disk top layer only, identical as the guest sees it, and a second copy changes nothing', async () => {
    const { name, pid } = await serve('disk', port);
    await copy('disk', port, name);
    await copy('disk', port, name);
    expect(await stopTool(pid, ID)).toBe(true);
    expect(livePid(join(dst, 'nbd-disk.pid'), ID)).toBeUndefined();
    expect(compare(join(src, 'disk.qcow2'), join(dst, 'disk.qcow2'))).toContain('Images are identical');
    // The base's data stayed in the base: the target holds no more than the source overlay does.
    const held = (file: string) => map(file).filter((r) => r.depth === 0 && r.data).reduce((n, r) => n + r.length, 0);
    expect(held(join(dst, 'disk.qcow2'))).toBe(held(join(src, 'disk.qcow2')));
    expect(held(join(dst, 'disk.qcow2'))).toBeLessThan(2 * MiB);
    // The zeroed range reads zero, over the base's 0xaa.
    expect(qemuIo(join(dst, 'disk.qcow2'), 'read -P 0 2M 128k', 'read -P 0xaa 4M 64k', 'read -P 0x11 1M 64k', 'read -P 0x22 20M 1M')).not.toMatch(/fail|error/i);
  });

  it('copies the ephemeral disk whole into a blank target', async () => {
    const { name, pid } = await serve('ephemeral', port + 1);
    await copy('ephemeral', port + 1, name);
    expect(await stopTool(pid, ID)).toBe(true);
    expect(compare(join(src, 'ephemeral.qcow2'), join(dst, 'ephemeral.qcow2'))).toContain('Images are identical');
  });

  it('fails with qemu-img said why when the export is gone (a killed qemu-nbd)', async () => {
    const { name, pid } = await serve('disk', port + 2);
    await stopTool(pid, ID);
    await expect(copy('disk', port + 2, name)).rejects.toThrow(/convert of .* failed: exit code 1: .*(Connection refused|Failed to connect)/i);
  });

  it('opens images through explicit chains (the header names nothing the tools follow)', () => {
    expect(existsSync(join(dst, 'disk.qcow2'))).toBe(true);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', qcow2Chain(join(dst, 'ephemeral.qcow2'))], { encoding: 'utf8' }));
    expect(info['virtual-size']).toBe(8 * MiB);
  });
});
