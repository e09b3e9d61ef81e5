/**
 * What the failover controller does about silent hosts, pure (recovery-task.ts acts on it):
 *
 *   storm     more than NUBO_FAILOVER_STORM_PERCENT of the hosts went silent within one storm
 *             window (down, or fenced since): a control-plane partition looks like that, host
 *             deaths do not. Nothing is fenced; an alert says why. Hosts are marked down one by
 *             one as their timers run out, so a host is fenced only once it has been down for the
 *             settle time: hosts that went silent together are seen together.
 *   fence     a down host (silent for NUBO_HOST_DOWN_AFTER_MS): the fence driver powers it off,
 *             as vSphere HA does once a host is declared dead. A driver that confirms is the
 *             only safe fence for a frozen or hung agent (its QEMUs run on).
 *   trust     without a confirmed fence, a lease expired for longer than the self-fence margin
 *             (an agent that could still act has killed its QEMUs by then) counts as fenced,
 *             when the operator allows it (NUBO_FAILOVER_TRUST_LEASE_EXPIRY).
 */
import { HostState } from '@nubo/contracts';

export interface HostLiveness {
  id: string;
  state: HostState | string;
  /** ms since its last heartbeat. */
  silentForMs: number;
  /** ms since the lease ended in PostgreSQL; negative while it runs; null: no lease ever. */
  leaseExpiredForMs: number | null;
}

export interface RecoveryPolicy {
  stormPercent: number;
  /** The scheduler's NUBO_HOST_DOWN_AFTER_MS. */
  downAfterMs: number;
  /** A down host waits this long before it is fenced (others silent with it show up meanwhile). */
  settleMs: number;
  /** Hosts silent within this long of each other count as "at once". */
  stormWindowMs: number;
  /** How long past its lease's end a host without a confirmed fence counts as fenced. */
  selfFenceMarginMs: number;
}

export interface RecoveryPlan {
  /** Set when automatic fencing is held back: the alert's text. */
  storm?: string;
  /** Hosts to power off now. */
  fence: string[];
}

/** Hosts an admin took out (maintenance, disabled) neither count as silent nor as the whole. */
const COUNTED = new Set<string>([HostState.Up, HostState.Down, HostState.Fenced]);

export function planRecovery(hosts: ReadonlyArray<HostLiveness>, policy: RecoveryPolicy): RecoveryPlan {
  const counted = hosts.filter((h) => COUNTED.has(h.state));
  // Silent: fenced within the window, or without a heartbeat for half the down timeout (a healthy
  // host never misses that many; hosts cut off together cross it together, seconds before any is
  // old enough to fence, whenever the registry gets to mark them down).
  const recent = (h: HostLiveness) => h.silentForMs < policy.downAfterMs + policy.stormWindowMs;
  const silent = counted.filter((h) => recent(h) && (h.state === HostState.Fenced || h.silentForMs >= policy.downAfterMs / 2));
  if (silent.length > 1 && silent.length * 100 > counted.length * policy.stormPercent) {
    return {
      storm: `${silent.length} of ${counted.length} hosts are silent at once (${silent.map((h) => h.id).join(', ')}), more than ${policy.stormPercent}%: a control-plane partition, not host deaths; nothing is fenced automatically`,
      fence: [],
    };
  }
  const settled = counted.filter((h) => h.state === HostState.Down && h.silentForMs >= policy.downAfterMs + policy.settleMs);
  return { fence: settled.map((h) => h.id) };
}

/** A fence that was not confirmed still counts once the lease is this far gone. */
export function trustsLeaseExpiry(host: HostLiveness, policy: RecoveryPolicy): boolean {
  return host.leaseExpiredForMs !== null && host.leaseExpiredForMs > policy.selfFenceMarginMs;
}
