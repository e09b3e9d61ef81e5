import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFolder, listFolders, writeIfChanged } from './dhcp-state-files';

describe('dhcp state files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nbt-d-files-'));
    chmodSync(dir, 0o711);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a file readable by others only when its text changes, leaving no temp file', async () => {
    const path = join(dir, 'hosts');
    expect(await writeIfChanged(path, 'a\n')).toBe(true);
    expect(await writeIfChanged(path, 'a\n')).toBe(false);
    expect(await writeIfChanged(path, 'b\n')).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('b\n');
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['hosts']);
  });

  it('makes the state dir and a folder that others can cross, and lists folders', async () => {
    const state = join(dir, 'state');
    await ensureFolder(state, join(state, 'qdhcp-0a1b2c3d4e5f'));
    expect(statSync(state).mode & 0o001).toBe(0o001);
    expect(await listFolders(state)).toEqual(['qdhcp-0a1b2c3d4e5f']);
    expect(await listFolders(join(dir, 'missing'))).toEqual([]);
  });

  it('refuses a state dir under a parent that dnsmasq (nobody) cannot cross', async () => {
    chmodSync(dir, 0o700);
    const state = join(dir, 'state');
    await expect(ensureFolder(state, join(state, 'x'))).rejects.toThrow(`${dir} lacks o+x`);
  });
});
