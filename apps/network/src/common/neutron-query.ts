/** Request-body checks, list filters and `fields=` selection shared by every Neutron resource. Pure. */
import { NeutronQuery, NeutronResource } from '@nubo/contracts';
import { badRequest, invalidInput } from './neutron-errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);

/** `{"network": {...}}` -> the inner object; unknown attributes are refused as Neutron does. */
export function resourceBody(body: unknown, key: string, allowed: readonly string[]): Record<string, unknown> {
  const inner = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)[key] : undefined;
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw badRequest(`Resource body required`, key);
  const unknown = Object.keys(inner).filter((k) => !allowed.includes(k));
  if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`, unknown[0]);
  return inner as Record<string, unknown>;
}

export function optString(body: Record<string, unknown>, field: string, max = 255): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidInput(field, `'${String(v)}' is not a valid string`);
  if (v.length > max) throw invalidInput(field, `'${v}' exceeds maximum length of ${max}`);
  return v;
}

/** Neutron converts "true"/"false" strings too. */
export function optBool(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalidInput(field, `'${String(v)}' cannot be converted to boolean`);
}

export function optInt(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw invalidInput(field, `'${String(v)}' is not an integer`);
  return n;
}

/** Neutron's timestamps: second precision, `Z`. */
export function isoTime(d: Date | string): string {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const NON_FILTERS = new Set(['fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir']);

function matches(value: unknown, wanted: string): boolean {
  if (typeof value === 'boolean') return String(value) === wanted.toLowerCase();
  if (value === null || value === undefined) return wanted === '' || wanted.toLowerCase() === 'none';
  if (Array.isArray(value)) return value.some((v) => (typeof v === 'object' ? false : String(v) === wanted));
  return String(value) === wanted;
}

/** Neutron's list filters: `attr=value` (repeated: any of them), on the resource as shown. */
export function applyFilters(items: NeutronResource[], query: NeutronQuery): NeutronResource[] {
  const filters = Object.entries(query).filter(([k]) => !NON_FILTERS.has(k));
  return items.filter((item) =>
    filters.every(([k, v]) => !(k in item) || (Array.isArray(v) ? v : [v]).some((w) => matches(item[k], String(w)))),
  );
}

/** `fields=a&fields=b` (or `fields=a,b`): only those attributes. */
export function selectFields(item: NeutronResource, query: NeutronQuery): NeutronResource {
  const raw = query.fields;
  if (raw === undefined) return item;
  const fields = (Array.isArray(raw) ? raw : [raw]).flatMap((f) => String(f).split(',')).filter(Boolean);
  if (!fields.length) return item;
  return Object.fromEntries(fields.filter((f) => f in item).map((f) => [f, item[f]]));
}

/** Filters, then `limit`/`marker` (by id, in creation order), then `fields`. */
export function listView(items: NeutronResource[], query: NeutronQuery): NeutronResource[] {
  let rows = applyFilters(items, query);
  const marker = typeof query.marker === 'string' ? query.marker : undefined;
  if (marker) {
    const at = rows.findIndex((r) => r.id === marker);
    rows = at >= 0 ? rows.slice(at + 1) : rows;
  }
  const limit = typeof query.limit === 'string' && /^\d+$/.test(query.limit) ? Number(query.limit) : 0;
  if (limit > 0) rows = rows.slice(0, limit);
  return rows.map((r) => selectFields(r, query));
}
