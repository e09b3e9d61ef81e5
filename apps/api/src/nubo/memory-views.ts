/**
 * /nubo/v1's memory features: a host's KSM (from its last heartbeat) and a server's balloon
 * (asked of its agent), in the API's snake_case; and the balloon request body, checked with
 * Nova-style 400s naming the field.
 */
import { BalloonInfo, balloonTargetRangeMb } from '@nubo/contracts';
import { invalid, optionalInt, requireObject, onlyKeys } from '../common/validation';

const MiB = 2 ** 20;

export interface KsmView {
  enabled: boolean;
  available: boolean;
  run: number | null;
  pages_shared: number | null;
  pages_sharing: number | null;
  pages_unshared: number | null;
  full_scans: number | null;
}

const count = (value: unknown): number | null => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null);

/** The stored heartbeat figures (jsonb), or null for a host whose agent sends none. */
export function ksmView(stored: unknown): KsmView | null {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return null;
  const k = stored as Record<string, unknown>;
  return {
    enabled: k.enabled === true,
    available: k.available === true,
    run: count(k.run),
    pages_shared: count(k.pagesShared),
    pages_sharing: count(k.pagesSharing),
    pages_unshared: count(k.pagesUnshared),
    full_scans: count(k.fullScans),
  };
}

export function balloonView(info: BalloonInfo): { balloon: { actual_mb: number; max_mb: number; target_mb?: number } } {
  return {
    balloon: {
      // Rounded: a TCG guest has 8 KiB less than its flavor (qemu-migration-quirks.ts).
      actual_mb: Math.round(info.actualBytes / MiB),
      max_mb: Math.floor(info.maxBytes / MiB),
      ...(info.targetBytes !== undefined ? { target_mb: Math.floor(info.targetBytes / MiB) } : {}),
    },
  };
}

/** `{"balloon": {"target_mb": N}}`: the shape, before the server is looked up. */
export function parseBalloonBody(body: unknown): number {
  const balloon = requireObject((requireObject(body, 'body') as Record<string, unknown>).balloon, 'balloon');
  onlyKeys(balloon, 'balloon', ['target_mb']);
  const target = optionalInt(balloon, 'target_mb');
  if (target === undefined) invalid('target_mb', undefined, "'target_mb' is a required property");
  return target as number;
}

/** The target within the server's range: a quarter of its RAM (at least 64 MiB) up to its RAM. */
export function checkBalloonTarget(targetMb: number, ramMb: number): number {
  const { minMb, maxMb } = balloonTargetRangeMb(ramMb);
  if (targetMb < minMb) invalid('target_mb', targetMb, `${targetMb} is less than the minimum of ${minMb}`);
  if (targetMb > maxMb) invalid('target_mb', targetMb, `${targetMb} is greater than the maximum of ${maxMb}`);
  return targetMb;
}
