/**
 * The per-network folders of the state dir. dnsmasq drops to `nobody` after startup and rereads
 * the hosts and opts files as that user on SIGHUP, so folders are 0755 (the state dir gets o+x)
 * and files 0644. Files are replaced atomically: a reload never sees half a file.
 */
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Creates the state dir (given o+x) and one network's folder. A parent that others cannot cross
 * is an error: dnsmasq would start, fail to read its hosts file as `nobody`, and offer nothing.
 */
export async function ensureFolder(stateDir: string, folder: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  const { mode } = await stat(stateDir);
  if (!(mode & 0o001)) await chmod(stateDir, (mode & 0o7777) | 0o001);
  for (let dir = dirname(stateDir); ; dir = dirname(dir)) {
    if (!((await stat(dir)).mode & 0o001)) throw new Error(`dnsmasq's unprivileged user cannot reach ${stateDir}: ${dir} lacks o+x`);
    if (dir === dirname(dir)) break;
  }
  await mkdir(folder, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
}

/** Writes `text` by temp file + rename unless the file holds it already; true when it changed. */
export async function writeIfChanged(path: string, text: string): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  const temp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  return true;
}

/** Folder names in the state dir (none when it does not exist yet). */
export async function listFolders(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(stateDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export async function removeFolder(stateDir: string, name: string): Promise<void> {
  await rm(join(stateDir, name), { recursive: true, force: true });
}
