/**
 * Which power operation may run from which power state, shared by every driver (like Cloud
 * Hypervisor's state-transition table). `act`: do it; `noop`: already there, answer the status
 * (the operations are idempotent); anything missing: ConflictError.
 *
 * Choices, after Nova's libvirt driver:
 * - stop of a suspended instance drops its saved RAM (a power-off);
 * - reboot HARD works from every state with files (stopped and suspended ones boot afresh);
 *   SOFT needs a running guest and otherwise falls back to HARD, as Nova does;
 * - resume of a stopped instance boots it (libvirt starts a domain with no managed save normally);
 * - start of a suspended instance is refused: resume it, or stop it to drop the saved RAM.
 */
import { ConflictError, PowerState } from '@nubo/contracts';

export type PowerOp = 'stop' | 'start' | 'reboot' | 'pause' | 'unpause' | 'suspend' | 'resume';
export type Verdict = 'act' | 'noop';

const { Running, Paused, Shutdown, Crashed, Suspended } = PowerState;

const TABLE: Record<PowerOp, Partial<Record<PowerState, Verdict>>> = {
  stop: { [Running]: 'act', [Paused]: 'act', [Crashed]: 'act', [Suspended]: 'act', [Shutdown]: 'noop' },
  start: { [Shutdown]: 'act', [Running]: 'noop', [Paused]: 'noop' },
  reboot: { [Running]: 'act', [Paused]: 'act', [Crashed]: 'act', [Shutdown]: 'act', [Suspended]: 'act' },
  pause: { [Running]: 'act', [Paused]: 'noop' },
  unpause: { [Paused]: 'act', [Running]: 'noop' },
  suspend: { [Running]: 'act', [Paused]: 'act', [Suspended]: 'noop' },
  resume: { [Suspended]: 'act', [Shutdown]: 'act', [Running]: 'noop', [Paused]: 'noop' },
};

/** The verdict for `op` from `state`; throws ConflictError when the operation makes no sense there. */
export function planPowerOp(op: PowerOp, serverId: string, state: PowerState): Verdict {
  const verdict = TABLE[op][state];
  if (!verdict) {
    throw new ConflictError(`cannot ${op} server ${serverId} while it is ${state}`, { serverId, operation: op, powerState: state });
  }
  return verdict;
}
