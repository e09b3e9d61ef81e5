/**
 * Balloon targets, shared by the drivers: the range check and the memory of the last target set
 * on each server's current process (QMP query-balloon reports only `actual`; a new QEMU starts
 * with an empty balloon, so a target is kept only for the pid it was set on).
 */
import { ValidationError, balloonTargetRangeMb } from '@nubo/contracts';

const MiB = 2 ** 20;

/** The target in bytes, or ValidationError naming `targetBytes` with the allowed range. */
export function validateBalloonTarget(targetBytes: unknown, ramMb: number): number {
  const { minMb, maxMb } = balloonTargetRangeMb(ramMb);
  if (typeof targetBytes !== 'number' || !Number.isSafeInteger(targetBytes) || targetBytes < minMb * MiB || targetBytes > maxMb * MiB) {
    throw new ValidationError(`targetBytes must be an integer from ${minMb * MiB} to ${maxMb * MiB} (${minMb} to ${maxMb} MiB)`, 'targetBytes');
  }
  return targetBytes;
}

export class BalloonTargets {
  private readonly targets = new Map<string, { pid: number; bytes: number }>();

  /** Records a target; drops those of processes `current` no longer names (destroyed, restarted). */
  set(serverId: string, pid: number, bytes: number, current: (serverId: string) => number | undefined): void {
    for (const [id, entry] of this.targets) if (current(id) !== entry.pid) this.targets.delete(id);
    this.targets.set(serverId, { pid, bytes });
  }

  /** The target set on this process of the server; a stale entry (another pid) is dropped. */
  get(serverId: string, pid: number | undefined): number | undefined {
    const entry = this.targets.get(serverId);
    if (entry && entry.pid === pid) return entry.bytes;
    this.targets.delete(serverId);
    return undefined;
  }
}
