/**
 * The live-migration pre-flight model (pure): will pre-copy converge, and how long will it take?
 *
 * Pre-copy sends the whole RAM once (round 0), then in each round what the guest dirtied while
 * the previous round was sent: x0 = R, x(k+1) = min(R, x(k) * D / B), where R is the RAM (MiB),
 * D the guest's dirty rate and B the bandwidth (MiB/s). QEMU stops the vCPUs and sends the rest
 * once it fits in the downtime limit T: x(n) <= B * T. So it converges when the RAM fits in the
 * downtime at once, or when D < B and that takes at most MAX_ROUNDS rounds; the predicted total is
 * the sum of the rounds over B (setup, disk copies, auto-converge throttling and the workflow's
 * downtime escalation are not modelled).
 */
import { ValidationError } from '@nubo/contracts';

/** Past this many rounds the migration is called non-converging (QEMU would go on, slowly). */
export const MAX_ROUNDS = 30;

export interface PreflightInput {
  ramMib: number;
  dirtyRateMibS: number;
  bandwidthMibS: number;
  downtimeLimitMs: number;
}

export interface PreflightPrediction {
  predictedTotalMs: number | null;
  predictedConverges: boolean;
  /** Pre-copy rounds including the stop-and-copy one (null when it does not converge). */
  rounds: number | null;
  reason: string;
}

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

export function predictPrecopy(input: PreflightInput): PreflightPrediction {
  const { ramMib: r, dirtyRateMibS: d, bandwidthMibS: b, downtimeLimitMs: t } = input;
  if (!(b > 0)) return { predictedTotalMs: null, predictedConverges: false, rounds: null, reason: 'no bandwidth to migrate over' };
  const budget = (b * t) / 1000;
  if (r <= budget) {
    return { predictedTotalMs: (r / b) * 1000, predictedConverges: true, rounds: 1, reason: `the whole RAM (${fmt(r)} MiB) fits in the downtime limit (${fmt(budget)} MiB in ${t} ms)` };
  }
  if (d >= b) {
    return {
      predictedTotalMs: null,
      predictedConverges: false,
      rounds: null,
      reason: `the guest dirties ${fmt(d)} MiB/s, not less than the ${fmt(b)} MiB/s bandwidth: pre-copy never catches up`,
    };
  }
  let sent = 0;
  let x = r;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    sent += x;
    if (x <= budget) {
      return {
        predictedTotalMs: (sent / b) * 1000,
        predictedConverges: true,
        rounds: round,
        reason: `dirty rate ${fmt(d)} < bandwidth ${fmt(b)} MiB/s: the last round (${fmt(x)} MiB) fits in the downtime limit after ${round} rounds`,
      };
    }
    x = Math.min(r, (x * d) / b);
  }
  return {
    predictedTotalMs: null,
    predictedConverges: false,
    rounds: null,
    reason: `the remaining pages do not fit in the ${t} ms downtime limit within ${MAX_ROUNDS} rounds (dirty rate ${fmt(d)} MiB/s close to bandwidth ${fmt(b)} MiB/s)`,
  };
}

/** The measurement time of `?seconds=`: 1 to 10 s. */
export function parsePreflightSeconds(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^[0-9]{1,2}$/.test(raw) || Number(raw) < 1 || Number(raw) > 10) throw new ValidationError('seconds must be an integer from 1 to 10', 'seconds');
  return Number(raw);
}

/** The flavor's `hw:live_migration_downtime` (ms) when a positive integer, else the default (as the scheduler reads it). */
export function downtimeLimitOf(extraSpecs: Record<string, string>, fallbackMs: number): number {
  const raw = extraSpecs['hw:live_migration_downtime'];
  const n = raw !== undefined && /^[0-9]{1,6}$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
  return n > 0 ? n : fallbackMs;
}
