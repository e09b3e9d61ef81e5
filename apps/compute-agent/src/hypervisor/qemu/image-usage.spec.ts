import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imagesInUse, qcow2BackingName } from './image-usage';

const sha = (c: string) => c.repeat(64);

describe('imagesInUse', () => {
  const root = mkdtempSync(join(tmpdir(), 'nubo-usage-'));
  const instances = join(root, 'instances');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  beforeAll(() => {
    const base = join(root, 'images', sha('b'));
    mkdirSync(join(root, 'images'), { recursive: true });
    writeFileSync(base, Buffer.alloc(4096));
    // One instance with a spec, one whose spec.json is lost but whose overlay names its base.
    mkdirSync(join(instances, 'with-spec'), { recursive: true });
    writeFileSync(join(instances, 'with-spec', 'spec.json'), JSON.stringify({ serverId: 'x', image: { sha256: sha('a') } }));
    mkdirSync(join(instances, 'overlay-only'), { recursive: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, join(instances, 'overlay-only', 'disk.qcow2'), '1M']);
    mkdirSync(join(instances, 'firmware-only'), { recursive: true });
    writeFileSync(join(instances, 'firmware-only', 'spec.json'), JSON.stringify({ serverId: 'y' }));
  });

  it('collects the bases named by specs and by overlay headers', async () => {
    expect([...(await imagesInUse(instances))].sort()).toEqual([sha('a'), sha('b')]);
  });

  it('is empty for a host with no instances directory', async () => {
    expect((await imagesInUse(join(root, 'nowhere'))).size).toBe(0);
  });

  it('reads no backing name from a file that is not a qcow2 with one', async () => {
    const plain = join(root, 'plain.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', plain, '1M']);
    await expect(qcow2BackingName(plain)).resolves.toBeUndefined();
    await expect(qcow2BackingName(join(root, 'images', sha('b')))).resolves.toBeUndefined();
    await expect(qcow2BackingName(join(root, 'missing'))).resolves.toBeUndefined();
  });
});
