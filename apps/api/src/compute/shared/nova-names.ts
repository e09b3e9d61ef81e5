/**
 * Nova's name formats (nova/api/validation/parameter_types.py): `name` and `az_name` are 1-255
 * printable characters (no control characters, no line or paragraph separators, nothing past
 * U+FFFF) that neither start nor end with a space; an `az_name` has no ':' either;
 * `name_with_leading_trailing_spaces` only needs one non-space character.
 */
import { invalid } from '../../common/validation';

export type NovaNameFormat = 'name' | 'az_name' | 'name_with_leading_trailing_spaces';

const REASONS: Record<NovaNameFormat, string> = {
  name: 'printable characters. Can not start or end with whitespace.',
  // Sic: Nova's text has no space after the first period.
  az_name: 'printable characters except :.Can not start or end with whitespace.',
  name_with_leading_trailing_spaces: 'printable characters with at least one non space character',
};

const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const SPACE = /^\p{Zs}$/u;

function printable(s: string): boolean {
  for (const ch of s) if (ch.codePointAt(0)! > 0xfffe || UNPRINTABLE.test(ch)) return false;
  return true;
}

export function isNovaName(s: string, format: NovaNameFormat): boolean {
  if (!printable(s)) return false;
  const chars = [...s];
  if (format === 'name_with_leading_trailing_spaces') return chars.some((c) => !SPACE.test(c));
  if (format === 'az_name' && s.includes(':')) return false;
  return chars.length === 0 || (!SPACE.test(chars[0]) && !SPACE.test(chars[chars.length - 1]));
}

/** A required or optional string in one of Nova's name formats, 1-255 characters. */
export function checkNovaName(value: unknown, field: string, format: NovaNameFormat): string {
  if (value === undefined) invalid(field, value, `'${field}' is a required property`);
  if (typeof value !== 'string') invalid(field, value, `${JSON.stringify(value)} is not of type 'string'`);
  const s = value as string;
  if (s.length < 1) invalid(field, s, `${JSON.stringify(s)} is too short`);
  if (s.length > 255) invalid(field, s, `${JSON.stringify(s.slice(0, 60))}... is too long`);
  if (!isNovaName(s, format)) invalid(field, s, `An invalid 'name' value was provided. The name must be: ${REASONS[format]}`);
  return s;
}
