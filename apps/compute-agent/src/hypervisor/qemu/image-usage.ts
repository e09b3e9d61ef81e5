/**
 * Which cached base images the instances on a host use, read from their directories (the only
 * durable state): the image a spec.json names, and the backing file named in a disk overlay's
 * qcow2 header. Stopped and suspended instances count: their overlays still need their bases.
 */
import { readFile, readdir, open } from 'node:fs/promises';
import { basename, join } from 'node:path';

const QCOW2_MAGIC = 0x514649fb;

/** The backing file name in a qcow2 header, or undefined (none, or not a qcow2). */
export async function qcow2BackingName(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = Buffer.alloc(20);
    if ((await handle.read(header, 0, 20, 0)).bytesRead < 20 || header.readUInt32BE(0) !== QCOW2_MAGIC) return undefined;
    const offset = Number(header.readBigUInt64BE(8));
    const length = header.readUInt32BE(16);
    if (offset === 0 || length === 0 || length > 1023) return undefined;
    const name = Buffer.alloc(length);
    const { bytesRead } = await handle.read(name, 0, length, offset);
    return name.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The sha256 names of the cache files that instances under `instancesDir` use. */
export async function imagesInUse(instancesDir: string, diskFile = 'disk.qcow2'): Promise<Set<string>> {
  const used = new Set<string>();
  const names = await readdir(instancesDir).catch(() => [] as string[]);
  for (const name of names) {
    const dir = join(instancesDir, name);
    try {
      const spec = JSON.parse(await readFile(join(dir, 'spec.json'), 'utf8')) as { image?: { sha256?: unknown } };
      if (typeof spec.image?.sha256 === 'string') used.add(spec.image.sha256);
    } catch {
      // no spec: the overlay's header still tells
    }
    const backing = await qcow2BackingName(join(dir, diskFile));
    if (backing) used.add(basename(backing));
  }
  return used;
}
