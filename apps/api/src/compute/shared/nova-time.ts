/** Timestamps the way Nova's Python isoformat() prints them: no zone, microseconds. */
export function novaTime(d: Date | null | undefined): string | null {
  if (!d) return null;
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000');
}
