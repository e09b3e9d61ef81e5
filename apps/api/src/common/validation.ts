/**
 * Request-body checks that answer like Nova's JSON-schema validation: 400 with
 * "Invalid input for field/attribute <field>. Value: <v>. <reason>", naming the field.
 */
import { ValidationError } from '@nubo/contracts';

type Json = unknown;

function show(value: Json): string {
  const text = value === undefined ? 'None' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function invalid(field: string, value: Json, reason: string): never {
  throw new ValidationError(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${reason}`, field);
}

export function requireObject(value: Json, field: string): Record<string, Json> {
  if (value === undefined) invalid(field, value, `'${field}' is a required property`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(field, value, `${show(value)} is not of type 'object'`);
  return value as Record<string, Json>;
}

export function onlyKeys(obj: Record<string, Json>, field: string, allowed: string[]): void {
  const extra = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (extra.length) {
    invalid(field, obj, `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
}

export function requireString(obj: Record<string, Json>, key: string, o: { min?: number; max?: number; trimmed?: boolean } = {}): string {
  const value = obj[key];
  if (value === undefined) invalid(key, value, `'${key}' is a required property`);
  return checkString(value, key, o);
}

export function optionalString(obj: Record<string, Json>, key: string, o: { min?: number; max?: number } = {}): string | undefined {
  return obj[key] === undefined ? undefined : checkString(obj[key], key, o);
}

function checkString(value: Json, field: string, o: { min?: number; max?: number; trimmed?: boolean }): string {
  if (typeof value !== 'string') invalid(field, value, `${show(value)} is not of type 'string'`);
  const s = value as string;
  const min = o.min ?? 0;
  if (s.length < min) invalid(field, s, `${show(s)} is too short`);
  if (o.max !== undefined && s.length > o.max) invalid(field, s, `${show(s)} is too long`);
  if (o.trimmed && s.trim() !== s) invalid(field, s, 'Leading or trailing whitespace is not allowed');
  return s;
}

/** Nova accepts ids given as strings or integers (flavorRef: 1 or "1"). */
export function requireStringOrInt(obj: Record<string, Json>, key: string): string {
  const value = obj[key];
  if (value === undefined) invalid(key, value, `'${key}' is a required property`);
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  return checkString(value, key, { min: 1, max: 255 });
}

export function optionalInt(obj: Record<string, Json>, key: string, o: { min?: number; max?: number } = {}): number | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) invalid(key, value, `${show(value)} is not of type 'integer'`);
  if (o.min !== undefined && (n as number) < o.min) invalid(key, value, `${show(value)} is less than the minimum of ${o.min}`);
  if (o.max !== undefined && (n as number) > o.max) invalid(key, value, `${show(value)} is greater than the maximum of ${o.max}`);
  return n as number;
}

export function optionalStringMap(obj: Record<string, Json>, key: string, o: { maxKey: number; maxValue: number }): Record<string, string> | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  const map = requireObject(value, key);
  for (const [k, v] of Object.entries(map)) {
    if (k.length < 1 || k.length > o.maxKey) invalid(key, value, `key ${show(k)} must be 1 to ${o.maxKey} characters`);
    if (typeof v !== 'string') invalid(key, value, `${show(v)} is not of type 'string'`);
    if ((v as string).length > o.maxValue) invalid(key, value, `value of ${show(k)} is too long`);
  }
  return map as Record<string, string>;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
