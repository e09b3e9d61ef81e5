/**
 * File steps that survive a crash of the agent (or the host) half-way: content goes to a temp
 * name, is fsynced, and takes its final name with a rename, whose directory entry is fsynced too.
 * A final name is therefore always complete; a leftover temp name is garbage to overwrite.
 */
import { constants } from 'node:fs';
import { copyFile, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** rename(2), then the directory's fsync so the new name is on disk. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsync(dirname(to));
}

/** A complete copy of `from` at `to` (a reflink where the filesystem offers it). */
export async function copyDurably(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp`;
  await rm(tmp, { force: true });
  await copyFile(from, tmp, constants.COPYFILE_FICLONE);
  await fsync(tmp);
  await renameDurably(tmp, to);
}

export async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await fsync(tmp);
  await renameDurably(tmp, path);
}
