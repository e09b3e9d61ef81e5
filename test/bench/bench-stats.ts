/** What every benchmark measures with: a monotonic clock, a pause, the median, rounding. */

/** Milliseconds on the monotonic clock. */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The median; NaN for no values. */
export const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Two decimals: what the JSON lines print. */
export const round2 = (n: number) => Math.round(n * 100) / 100;
