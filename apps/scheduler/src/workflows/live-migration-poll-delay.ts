/**
 * How long the live-migration poll loop waits before its next status call (pure). A fixed
 * NUBO_LIVE_MIGRATION_POLL_MS (500 ms) adds ~half of it to every migration, whose switch-over is
 * seen late: a short migration (an idle 1 GiB guest moves in well under a second) loses a third of
 * its time. So the wait follows the expected time left, from the progress since the last poll (bytes
 * sent, or the fall of the bytes remaining, whichever is larger: zero pages are skipped, not sent):
 * never longer than the configured interval, never shorter than MIN_POLL_MS; the second poll comes
 * soon after the first to get a rate at all.
 *
 * The expected time left is often unknown (setup, the last round, a rate that jumps), so the wait
 * is also bounded by a fraction of the time the migration has run: a migration that ends after
 * t ms is seen at most ~t/RUNNING_FRACTION ms late (a few per cent), while a long one still polls
 * at the configured interval.
 */
import { MigrationStatusReply } from '@nubo/contracts';

export const MIN_POLL_MS = 20;
/** The wait is at most the time run so far divided by this. */
export const RUNNING_FRACTION = 8;

export interface PollSample {
  at: number;
  /** RAM and disk bytes moved so far. */
  processedBytes: number;
  /** RAM and disk bytes still to move. */
  remainingBytes: number;
}

export const sampleOf = (status: MigrationStatusReply, at: number): PollSample => ({
  at,
  processedBytes: status.memory.processedBytes + (status.disk?.processedBytes ?? 0),
  remainingBytes: status.memory.remainingBytes + (status.disk?.remainingBytes ?? 0),
});

/** `runningForMs`: since the migration started (absent: no bound from it). */
export function nextPollDelayMs(now: PollSample, previous: PollSample | undefined, intervalMs: number, runningForMs?: number): number {
  const floor = Math.min(MIN_POLL_MS, intervalMs);
  const cap = runningForMs === undefined ? intervalMs : Math.min(intervalMs, Math.max(floor, Math.round(runningForMs / RUNNING_FRACTION)));
  if (!previous) return Math.max(floor, Math.min(cap, 4 * MIN_POLL_MS));
  const elapsed = now.at - previous.at;
  const progress = Math.max(now.processedBytes - previous.processedBytes, previous.remainingBytes - now.remainingBytes);
  if (elapsed <= 0 || progress <= 0) return cap;
  const etaMs = (now.remainingBytes / progress) * elapsed;
  return Math.max(floor, Math.min(cap, Math.round(etaMs)));
}
