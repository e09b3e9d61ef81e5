import { DIRTY_SYNC_FAST_PATH_BYTES, QemuVersion, precopyLosesWrites, qemuVersionOf, safeChannels, tcgRamArgument } from './qemu-migration-quirks';

const v = (major: number, minor: number, micro = 0): QemuVersion => ({ major, minor, micro });
const MiB = 2 ** 20;

describe('qemu-migration-quirks', () => {
  describe(safeChannels.name, () => {
    it.each([
      ['7.2, two channels: one stream', v(7, 2, 22), 2, 0],
      ['7.2, sixteen channels: one stream', v(7, 2), 16, 0],
      ['8.2, two channels: one stream', v(8, 2, 1), 2, 0],
      ['7.2, one stream asked: unchanged', v(7, 2), 0, 0],
      ['7.2, 1 (multifd off already): unchanged', v(7, 2), 1, 1],
      ['9.0, two channels: kept', v(9, 0), 2, 2],
      ['10.1, four channels: kept', v(10, 1), 4, 4],
    ])('%s', (_, version, asked, expected) => {
      const o = { multifdChannels: asked, postcopyAllowed: true, downtimeLimitMs: 300 };
      expect(safeChannels(o, version)).toEqual({ ...o, multifdChannels: expected });
    });
  });

  describe(precopyLosesWrites.name, () => {
    it.each([
      ['TCG on 7.2, 512 MiB', v(7, 2), true, 512 * MiB, true],
      ['TCG on 7.2, 512 MiB - 8 KiB', v(7, 2), true, 512 * MiB - 8192, false],
      ['TCG on 7.2, 256 KiB multiple', v(7, 2), true, 3 * DIRTY_SYNC_FAST_PATH_BYTES, true],
      ['KVM on 7.2, 512 MiB', v(7, 2), false, 512 * MiB, false],
      ['TCG on 9.0, 512 MiB', v(9, 0), true, 512 * MiB, false],
    ])('%s', (_, version, tcg, ramBytes, expected) => expect(precopyLosesWrites(version, { tcg, ramBytes })).toBe(expected));
  });

  describe(tcgRamArgument.name, () => {
    it.each([
      [256, 'tcg', '262136k'],
      [512, 'tcg', '524280k'],
      [512, 'kvm', '512M'],
    ] as const)('%i MiB under %s: %s', (ramMb, accel, expected) => expect(tcgRamArgument(ramMb, accel)).toBe(expected));

    it('takes TCG guests off the fast path of the dirty sync, in QEMU 8 KiB steps', () => {
      for (const ramMb of [64, 256, 1024, 16384]) {
        const kib = Number(tcgRamArgument(ramMb, 'tcg').slice(0, -1));
        expect((kib * 1024) % DIRTY_SYNC_FAST_PATH_BYTES).not.toBe(0);
        expect(kib % 8).toBe(0);
      }
    });
  });

  describe(qemuVersionOf.name, () => {
    it('reads query-version', async () => {
      const monitor = { execute: jest.fn().mockResolvedValue({ qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian 1:7.2+dfsg-7+deb12u18' }) };
      await expect(qemuVersionOf(monitor)).resolves.toEqual(v(7, 2, 22));
      expect(monitor.execute).toHaveBeenCalledWith('query-version');
    });
  });
});
