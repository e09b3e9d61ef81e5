/**
 * Live migration settings and the convergence policy (pure): what the poll loop does next, from
 * the time elapsed and the steps already taken.
 *
 *   every `convergeAfterMs` without completion: the downtime limit doubles (at most `downtimeSteps`
 *   times); once the steps are spent and another period passes, post-copy when the server allows it;
 *   at `timeoutMs`: post-copy when allowed (and not yet), else abort.
 *   An admin's force-complete: post-copy when allowed, else the largest downtime step at once.
 *   In post-copy nothing is ever aborted: the guest's RAM is split between the two hosts.
 */
import { env } from '@nubo/config';

export const liveMigrationSchema = {
  /** Status polls of a running live migration. */
  NUBO_LIVE_MIGRATION_POLL_MS: env.int({ default: 500, min: 50, max: 10_000 }),
  /** Time without completion before the policy steps the downtime limit up (or goes post-copy). */
  NUBO_LIVE_MIGRATION_CONVERGE_AFTER_MS: env.int({ default: 15_000, min: 100 }),
  /** Doublings of the downtime limit the policy may take. */
  NUBO_LIVE_MIGRATION_DOWNTIME_STEPS: env.int({ default: 3, min: 0, max: 10 }),
  /** Downtime limit when the flavor has no `hw:live_migration_downtime`. */
  NUBO_LIVE_MIGRATION_DOWNTIME_MS: env.int({ default: 300, min: 10, max: 60_000 }),
  /** A migration still running after this long: post-copy when allowed, else aborted. */
  NUBO_LIVE_MIGRATION_TIMEOUT_MS: env.int({ default: 600_000, min: 1_000 }),
  /** Bandwidth cap handed to QEMU (its own default, 128 MiB/s, is far below a LAN's). */
  NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS: env.int({ default: 10_240, min: 1 }),
  /** Before post-copy, a migration that moves no byte for this long is abandoned (rolled back). */
  NUBO_LIVE_MIGRATION_STALL_MS: env.int({ default: 15_000, min: 1_000 }),
  /** QEMU multifd channels for RAM (0 or 1: one stream). */
  NUBO_LIVE_MIGRATION_MULTIFD_CHANNELS: env.int({ default: 2, min: 0, max: 16 }),
};

export interface ConvergenceSettings {
  convergeAfterMs: number;
  downtimeSteps: number;
  timeoutMs: number;
}

export interface ConvergenceState {
  /** Since the migration started. */
  elapsedMs: number;
  /** Since the last escalation (or the start). */
  sinceEscalationMs: number;
  downtimeBaseMs: number;
  /** Doublings taken so far. */
  downtimeStep: number;
  postcopyAllowed: boolean;
  /** Post-copy was asked for already (or the agent reports postcopy-active). */
  postcopy: boolean;
  forceComplete: boolean;
}

export type ConvergenceAction =
  | { kind: 'wait' }
  | { kind: 'downtime'; step: number; downtimeMs: number }
  | { kind: 'postcopy' }
  | { kind: 'abort'; reason: 'timeout' };

export const downtimeAt = (baseMs: number, step: number) => baseMs * 2 ** step;

export function nextConvergenceAction(s: ConvergenceState, o: ConvergenceSettings): ConvergenceAction {
  if (s.postcopy) return { kind: 'wait' };
  const lastStep = o.downtimeSteps;
  if (s.forceComplete) {
    if (s.postcopyAllowed) return { kind: 'postcopy' };
    return s.downtimeStep < lastStep ? { kind: 'downtime', step: lastStep, downtimeMs: downtimeAt(s.downtimeBaseMs, lastStep) } : { kind: 'wait' };
  }
  if (s.elapsedMs >= o.timeoutMs) return s.postcopyAllowed ? { kind: 'postcopy' } : { kind: 'abort', reason: 'timeout' };
  if (s.sinceEscalationMs < o.convergeAfterMs) return { kind: 'wait' };
  if (s.downtimeStep < lastStep) return { kind: 'downtime', step: s.downtimeStep + 1, downtimeMs: downtimeAt(s.downtimeBaseMs, s.downtimeStep + 1) };
  return s.postcopyAllowed ? { kind: 'postcopy' } : { kind: 'wait' };
}

const TRUE = new Set(['true', '1', 'yes', 'on']);

/** Post-copy is opted into per flavor (extra spec) or per server (metadata): `nubo:live_migration_postcopy=true`. */
export const POSTCOPY_KEY = 'nubo:live_migration_postcopy';

export function postcopyAllowed(extraSpecs: Record<string, string>, metadata: Record<string, string>): boolean {
  return TRUE.has(String(extraSpecs[POSTCOPY_KEY] ?? metadata[POSTCOPY_KEY] ?? '').toLowerCase());
}

/**
 * A lower bandwidth cap for one server's migrations (MiB/s), as flavor extra spec or server
 * metadata `nubo:live_migration_max_bandwidth`: a positive integer, never above the host-wide
 * `NUBO_LIVE_MIGRATION_MAX_BANDWIDTH_MIBS` (it only slows a migration down: fault tests keep one
 * in pre-copy, an operator spares a busy underlay). Anything else: the host-wide cap.
 */
export const MAX_BANDWIDTH_KEY = 'nubo:live_migration_max_bandwidth';

export function maxBandwidthMibs(extraSpecs: Record<string, string>, metadata: Record<string, string>, capMibs: number): number {
  const raw = String(extraSpecs[MAX_BANDWIDTH_KEY] ?? metadata[MAX_BANDWIDTH_KEY] ?? '').trim();
  const n = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : NaN;
  return n > 0 ? Math.min(n, capMibs) : capMibs;
}

/** The flavor's `hw:live_migration_downtime` (ms) when it is a positive integer, else the default. */
export function downtimeBaseMs(extraSpecs: Record<string, string>, fallbackMs: number): number {
  const raw = extraSpecs['hw:live_migration_downtime'];
  const n = raw !== undefined && /^[0-9]{1,6}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  return n > 0 ? n : fallbackMs;
}
