/**
 * Flavor request bodies at microversion 2.1, checked like Nova's JSON schemas (400 naming the
 * field): flavor create, extra specs, and the flavor access actions.
 */
import { STORAGE_EXTRA_SPEC } from '@nubo/contracts';
import { invalid, onlyKeys, requireObject, requireString } from '../../common/validation';
import { parseBoolean } from '../quotas/quota-limits';

const MAX_INT = 0x7fffffff;
const FLAVOR_ID = /^(?! )[a-zA-Z0-9. _-]+(?<! )$/;
const SPEC_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

export interface CreateFlavorRequest {
  name: string;
  /** Absent (or null, or "auto"): a UUID is generated. */
  id?: string;
  ramMb: number;
  vcpus: number;
  diskGb: number;
  ephemeralGb: number;
  swapMb: number;
  rxtxFactor: number;
  isPublic: boolean;
}

/** Nova's flavor_param_positive / _non_negative: an integer, or a string of digits. */
function flavorInt(obj: Record<string, unknown>, key: string, o: { min: number; required: boolean }): number | undefined {
  const value = obj[key];
  if (value === undefined) {
    if (o.required) invalid(key, value, `'${key}' is a required property`);
    return undefined;
  }
  let n: number | undefined;
  if (typeof value === 'number' && Number.isInteger(value)) n = value;
  else if (typeof value === 'string' && /^[0-9]+$/.test(value)) n = Number(value);
  else if (typeof value === 'string') invalid(key, value, `'${value}' does not match '^[0-9]*$'`);
  else invalid(key, value, `${JSON.stringify(value)} is not of type 'integer', 'string'`);
  if (n! < o.min) invalid(key, value, `${n} is less than the minimum of ${o.min}`);
  if (n! > MAX_INT) invalid(key, value, `${n} is greater than the maximum of ${MAX_INT}`);
  return n;
}

export function parseCreateFlavor(body: unknown): CreateFlavorRequest {
  const f = requireObject(requireObject(body, 'body').flavor, 'flavor');
  onlyKeys(f, 'flavor', ['name', 'id', 'ram', 'vcpus', 'disk', 'OS-FLV-EXT-DATA:ephemeral', 'swap', 'rxtx_factor', 'os-flavor-access:is_public']);
  const name = requireString(f, 'name', { min: 1, max: 255, trimmed: true });
  let id: string | undefined;
  if (f.id !== undefined && f.id !== null) {
    if (typeof f.id === 'number' && Number.isFinite(f.id)) id = String(f.id);
    else if (typeof f.id === 'string') id = f.id;
    else invalid('id', f.id, `${JSON.stringify(f.id)} is not of type 'string', 'number', 'null'`);
    if (id === 'auto') id = undefined;
    else if (id!.length > 255 || !FLAVOR_ID.test(id!)) invalid('id', f.id, `'${id}' does not match '${FLAVOR_ID.source}'`);
  }
  return {
    name,
    id,
    ramMb: flavorInt(f, 'ram', { min: 1, required: true })!,
    vcpus: flavorInt(f, 'vcpus', { min: 1, required: true })!,
    diskGb: flavorInt(f, 'disk', { min: 0, required: true })!,
    ephemeralGb: flavorInt(f, 'OS-FLV-EXT-DATA:ephemeral', { min: 0, required: false }) ?? 0,
    swapMb: flavorInt(f, 'swap', { min: 0, required: false }) ?? 0,
    rxtxFactor: parseRxtx(f.rxtx_factor),
    isPublic: parseBoolean(f['os-flavor-access:is_public'], 'os-flavor-access:is_public') ?? true,
  };
}

function parseRxtx(value: unknown): number {
  if (value === undefined) return 1.0;
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value)) n = Number(value);
  else invalid('rxtx_factor', value, `${JSON.stringify(value)} is not of type 'number', 'string'`);
  if (!(n! > 0) || n! > 3.40282e38) invalid('rxtx_factor', value, `${n} is not a positive number`);
  return n!;
}

/** Extra specs: keys of [a-zA-Z0-9-_:. ], values strings or numbers up to 255 characters. */
export function parseSpecs(value: unknown, field: string, o: { exactlyOne?: boolean } = {}): Record<string, string> {
  const specs = requireObject(value, field);
  const keys = Object.keys(specs);
  if (o.exactlyOne && keys.length < 1) invalid(field, specs, `${JSON.stringify(specs)} does not have enough properties`);
  if (o.exactlyOne && keys.length > 1) invalid(field, specs, `${JSON.stringify(specs)} has too many properties`);
  const bad = keys.filter((k) => !SPEC_KEY.test(k));
  if (bad.length) invalid(field, specs, `Additional properties are not allowed (${bad.map((k) => `'${k}'`).join(', ')} ${bad.length > 1 ? 'were' : 'was'} unexpected)`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(specs)) {
    if (typeof v !== 'string' && typeof v !== 'number') invalid(k, v, `${JSON.stringify(v)} is not of type 'string', 'number'`);
    const text = String(v);
    if (text.length > 255) invalid(k, v, `${JSON.stringify(v)} is too long`);
    // Nova validates its own namespaces' values; Nubo's storage choice has two.
    if (k === STORAGE_EXTRA_SPEC && text !== 'local' && text !== 'shared') invalid(k, v, `${JSON.stringify(v)} is not one of ['local', 'shared']`);
    out[k] = text;
  }
  return out;
}

export function parseCreateSpecs(body: unknown): Record<string, string> {
  const b = requireObject(body, 'body');
  onlyKeys(b, 'body', ['extra_specs']);
  return parseSpecs(b.extra_specs, 'extra_specs');
}

export type FlavorAccessAction = { add: string } | { remove: string };

/** POST /flavors/{id}/action: {"addTenantAccess": {"tenant"}} or {"removeTenantAccess": {...}}. */
export function parseFlavorAction(body: unknown): FlavorAccessAction {
  const b = requireObject(body, 'body');
  for (const [action, kind] of [['addTenantAccess', 'add'], ['removeTenantAccess', 'remove']] as const) {
    if (b[action] === undefined) continue;
    const args = requireObject(b[action], action);
    onlyKeys(args, action, ['tenant']);
    const tenant = requireString(args, 'tenant', { min: 1, max: 255 });
    return kind === 'add' ? { add: tenant } : { remove: tenant };
  }
  return invalid('body', b, 'There is no such action: ' + (Object.keys(b)[0] ?? '(none)'));
}
