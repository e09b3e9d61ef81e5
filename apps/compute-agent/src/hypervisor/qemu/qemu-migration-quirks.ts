/**
 * QEMU bugs that live migration works around, by version. Both were reproduced on Debian 12's
 * QEMU 7.2 with two real QEMUs (qemu-live-migration-faults.int-spec.ts); pure except qemuVersionOf.
 *
 * 1. multifd sender deadlock (QEMU < 9.0). When one sender channel fails (the destination
 *    died), multifd_send_terminate_threads tells the others to quit; a channel that was just
 *    handed a SYNC packet by multifd_send_sync_main sees `exiting` and quits without posting its
 *    sem_sync, so the migration thread waits in qemu_sem_wait forever (seen with gdb). Its
 *    cleanup never runs: the yank instance stays registered, every later `migrate` fails with
 *    "duplicate yank instance", and nothing short of a new QEMU recovers. About one kill in three
 *    with two channels. One channel cannot deadlock that way, and one stream (multifd off) never
 *    does: the agent migrates with one stream. Both ends apply the same rule, since they must agree
 *    on multifd.
 * 2. TCG dirty tracking (QEMU < 9.0; fixed upstream by 03bfc2188f, "physmem: Fix migration dirty
 *    bitmap coherency with TCG memory access"). The fast path of the dirty-bitmap sync (a RAM
 *    block whose length is a multiple of 64 pages) clears the migration bits without resetting
 *    the TCG TLB, so later guest stores through the TLB are never logged: pre-copy loses them and
 *    the guest oopses on the destination (pvpanic then ends its QEMU). Reproduced with a bare QEMU
 *    and no capability set; calc-dirty-rate plays no part. A RAM size that is not a multiple of
 *    256 KiB takes the slow path, which resets the TLB: see tcgRamArgument.
 */
import { MigrationChannelOptions } from '@nubo/contracts';

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
}

/** The fast-path alignment of the dirty-bitmap sync: 64 pages of 4 KiB. */
export const DIRTY_SYNC_FAST_PATH_BYTES = 64 * 4096;

/** The smallest RAM step QEMU accepts (it rounds -m up to 8 KiB). */
const RAM_STEP_KIB = 8;

const before = (v: QemuVersion, major: number, minor: number) => v.major < major || (v.major === major && v.minor < minor);

/** QEMU releases whose multifd sender can deadlock when a channel fails. */
export function multifdCanDeadlock(v: QemuVersion): boolean {
  return before(v, 9, 0);
}

/** QEMU releases whose TCG loses guest writes during pre-copy (RAM of a multiple of 256 KiB). */
export function tcgDirtySyncLosesWrites(v: QemuVersion): boolean {
  return before(v, 9, 0);
}

/** The channels this QEMU can use: multifd off where its sender can deadlock. */
export function safeChannels<T extends MigrationChannelOptions>(o: T, v: QemuVersion): T {
  return o.multifdChannels > 1 && multifdCanDeadlock(v) ? { ...o, multifdChannels: 0 } : o;
}

/** Whether pre-copy of this guest can lose writes: TCG, an affected QEMU, RAM on the fast path. */
export function precopyLosesWrites(v: QemuVersion, o: { tcg: boolean; ramBytes: number }): boolean {
  return o.tcg && tcgDirtySyncLosesWrites(v) && o.ramBytes % DIRTY_SYNC_FAST_PATH_BYTES === 0;
}

/**
 * QEMU's `-m` for a guest of `ramMb`: under TCG 8 KiB less (no longer a multiple of 256 KiB, so
 * the dirty sync resets the TLB; the guest sees 8 KiB less than its flavor); `<n>M` otherwise.
 * Both ends of a migration must use the same value (RAM block lengths must match).
 */
export function tcgRamArgument(ramMb: number, accelerator: 'kvm' | 'tcg'): string {
  return accelerator === 'tcg' ? `${ramMb * 1024 - RAM_STEP_KIB}k` : `${ramMb}M`;
}

/** `query-version`'s answer (major.minor.micro). */
export async function qemuVersionOf(monitor: { execute<T>(command: string): Promise<T> }): Promise<QemuVersion> {
  const { qemu } = await monitor.execute<{ qemu: QemuVersion }>('query-version');
  return { major: qemu.major, minor: qemu.minor, micro: qemu.micro };
}
