/** The whole upload check against files made by the real qemu-img (backing files, data files, ...). */
import { ValidationError } from '@nubo/contracts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectImageFile } from './image-inspection';

const hasQemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const run = hasQemuImg ? describe : describe.skip;

run(inspectImageFile.name, () => {
  let dir: string;
  const path = (name: string) => join(dir, name);
  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: 'ignore' });
  const inspect = (name: string, declared: 'raw' | 'qcow2' | 'iso', maxVirtualBytes = 1024 ** 4) =>
    inspectImageFile(path(name), declared, statSync(path(name)).size, { maxVirtualBytes });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nubo-inspect-'));
    qemuImg('create', '-f', 'raw', 'base.raw', '1M');
    qemuImg('create', '-f', 'qcow2', 'plain.qcow2', '64M');
    qemuImg('create', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '8M');
    qemuImg('create', '-f', 'qcow2', '-b', join(dir, 'base.raw'), '-F', 'raw', 'backed.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', `data_file=${join(dir, 'data.raw')}`, 'datafile.qcow2', '16M');
    qemuImg('create', '-f', 'qcow2', 'huge.qcow2', '2T');
    qemuImg('create', '-f', 'vmdk', 'disk.vmdk', '16M');
    const iso = Buffer.alloc(40 * 1024);
    iso.write('CD001', 32769, 'latin1');
    writeFileSync(path('cd.iso'), iso);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a self-contained qcow2 and reads its virtual size', async () => {
    await expect(inspect('plain.qcow2', 'qcow2')).resolves.toEqual({ virtualSize: 64 * 1024 ** 2 });
    await expect(inspect('v2.qcow2', 'qcow2')).resolves.toEqual({ virtualSize: 8 * 1024 ** 2 });
  });

  it('accepts raw data, whose virtual size is its size', async () => {
    await expect(inspect('base.raw', 'raw')).resolves.toEqual({ virtualSize: 1024 ** 2 });
    await expect(inspect('cd.iso', 'iso')).resolves.toEqual({ virtualSize: 40 * 1024 });
  });

  it.each([
    ['a qcow2 with a backing file', 'backed.qcow2', 'qcow2', /backing file/],
    ['a qcow2 with an external data file', 'datafile.qcow2', 'qcow2', /external data file/],
    ['a qcow2 declared raw', 'plain.qcow2', 'raw', /is qcow2, not raw/],
    ['an ISO declared qcow2', 'cd.iso', 'qcow2', /not qcow2/],
    ['a VMDK declared raw', 'disk.vmdk', 'raw', /is vmdk, not raw/],
    ['a VMDK declared qcow2', 'disk.vmdk', 'qcow2', /not qcow2/],
    ['a qcow2 larger than the virtual size limit', 'huge.qcow2', 'qcow2', /exceeds the limit/],
  ] as const)('refuses %s', async (_name, file, declared, message) => {
    const error = await inspect(file, declared).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a qcow2 with a sane header that qemu-img cannot open', async () => {
    // A header extension right after the header, claiming to be 2 GiB long.
    const bytes = readFileSync(path('plain.qcow2'));
    Buffer.from([0x12, 0x34, 0x56, 0x78, 0x7f, 0xff, 0xff, 0xff]).copy(bytes, 112);
    writeFileSync(path('bad-ext.qcow2'), bytes);
    const error = await inspect('bad-ext.qcow2', 'qcow2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/could not be read as qcow2: .*Header extension too large/);
  });

  it('refuses a qcow2 cut after its header', async () => {
    writeFileSync(path('cut.qcow2'), readFileSync(path('plain.qcow2')).subarray(0, 65536));
    const error = await inspect('cut.qcow2', 'qcow2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/corrupt/);
  });

  it('kills qemu-img past its time limit and refuses the image', async () => {
    const limits = { cpuSeconds: 30, addressSpaceBytes: 1024 ** 3, timeoutMs: 1 };
    const error = await inspectImageFile(path('plain.qcow2'), 'qcow2', statSync(path('plain.qcow2')).size, { maxVirtualBytes: 1024 ** 4, limits }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/did not finish within 1 ms/);
  });
});
