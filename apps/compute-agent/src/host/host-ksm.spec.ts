import { Logger } from '@nestjs/common';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostKsm } from './host-ksm';

/** A fake /sys/kernel/mm/ksm with the given run value and counters. */
function fakeSysfs(root: string, run: string | null): string {
  const dir = join(root, 'ksm');
  mkdirSync(dir);
  if (run !== null) writeFileSync(join(dir, 'run'), `${run}\n`);
  writeFileSync(join(dir, 'pages_shared'), '12\n');
  writeFileSync(join(dir, 'pages_sharing'), '345\n');
  writeFileSync(join(dir, 'pages_unshared'), '6\n');
  writeFileSync(join(dir, 'full_scans'), '7\n');
  return dir;
}

const counters = { pagesShared: 12, pagesSharing: 345, pagesUnshared: 6, fullScans: 7 };

describe(HostKsm.name, () => {
  let root: string;
  let warn: jest.SpyInstance;

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nubo-ksm-'));
    warn = jest.spyOn(Logger.prototype, 'warn');
  });
  afterEach(() => {
    warn.mockRestore();
    rmSync(root, { recursive: true, force: true });
  });

  describe('enable', () => {
    it('turns KSM on when it is off and reports it on', async () => {
      const dir = fakeSysfs(root, '0');
      const ksm = new HostKsm({ enabled: true, sysfsDir: dir });
      await ksm.enable();
      expect(readFileSync(join(dir, 'run'), 'utf8').trim()).toBe('1');
      expect(await ksm.read()).toEqual({ enabled: true, available: true, run: 1, ...counters });
    });

    it('writes nothing when KSM is already on', async () => {
      const dir = fakeSysfs(root, '1');
      const past = new Date('2020-01-01T00:00:00Z');
      utimesSync(join(dir, 'run'), past, past);
      const ksm = new HostKsm({ enabled: true, sysfsDir: dir });
      await ksm.enable();
      expect(statSync(join(dir, 'run')).mtime).toEqual(past);
      expect(await ksm.read()).toMatchObject({ enabled: true, available: true, run: 1 });
    });

    it('leaves KSM alone when not enabled, and still reads its counters', async () => {
      const dir = fakeSysfs(root, '0');
      const ksm = new HostKsm({ enabled: false, sysfsDir: dir });
      await ksm.enable();
      expect(readFileSync(join(dir, 'run'), 'utf8').trim()).toBe('0');
      expect(await ksm.read()).toEqual({ enabled: false, available: true, run: 0, ...counters });
    });

    it.each([
      // A file that even root cannot write, as run is on a read-only sysfs.
      ['run is read-only', (dir: string) => symlinkSync('/proc/sys/kernel/cap_last_cap', join(dir, 'run')), { run: expect.any(Number), ...counters }],
      ['run is not a file', (dir: string) => mkdirSync(join(dir, 'run')), { run: null, ...counters }],
    ])('reports KSM unavailable and does not throw when %s; warns once', async (_what, arrange, values) => {
      const dir = fakeSysfs(root, null);
      arrange(dir);
      const ksm = new HostKsm({ enabled: true, sysfsDir: dir });
      await expect(ksm.enable()).resolves.toBeUndefined();
      expect(await ksm.read()).toEqual({ enabled: true, available: false, ...values });
      await ksm.read();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toMatch(/KSM unavailable/);
    });

    it.each([true, false])('reports a kernel without KSM (no sysfs directory) as unavailable, enabled=%s', async (enabled) => {
      const ksm = new HostKsm({ enabled, sysfsDir: join(root, 'missing') });
      await expect(ksm.enable()).resolves.toBeUndefined();
      expect(await ksm.read()).toEqual({
        enabled, available: false, run: null, pagesShared: null, pagesSharing: null, pagesUnshared: null, fullScans: null,
      });
    });
  });

  describe('read', () => {
    it('reads the counters fresh each time', async () => {
      const dir = fakeSysfs(root, '1');
      const ksm = new HostKsm({ enabled: true, sysfsDir: dir });
      expect((await ksm.read()).pagesSharing).toBe(345);
      writeFileSync(join(dir, 'pages_sharing'), '400\n');
      expect((await ksm.read()).pagesSharing).toBe(400);
    });

    it('gives null for a counter that is not a number', async () => {
      const dir = fakeSysfs(root, '1');
      writeFileSync(join(dir, 'full_scans'), 'garbage\n');
      expect(await new HostKsm({ enabled: true, sysfsDir: dir }).read()).toMatchObject({ available: true, fullScans: null, pagesShared: 12 });
    });
  });
});
