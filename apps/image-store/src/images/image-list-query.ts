/**
 * GET /v2/images query: Glance's filters, sort and keyset pagination, turned into SQL over
 * image.images (alias i) with `$n` parameters. Unknown parameters filter on additional properties,
 * as in Glance.
 */
import { ImageCaller, ImageStatus, ValidationError } from '@nubo/contracts';
import { visibleInListSql } from './image-access';

type Query = Record<string, string | string[] | undefined>;

export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 1000;

/** Sort keys Glance accepts, as SQL over alias `a` (nullable columns coalesced so keyset paging works). */
const SORT_KEYS: Record<string, (a: string) => string> = {
  name: (a) => `${a}.name`,
  status: (a) => `${a}.status`,
  container_format: (a) => `COALESCE(${a}.container_format, '')`,
  disk_format: (a) => `COALESCE(${a}.disk_format, '')`,
  size: (a) => `COALESCE(${a}.size_bytes, -1)`,
  virtual_size: (a) => `COALESCE(${a}.virtual_size, -1)`,
  id: (a) => `${a}.id`,
  created_at: (a) => `${a}.created_at`,
  updated_at: (a) => `${a}.updated_at`,
  visibility: (a) => `${a}.visibility`,
  owner: (a) => `${a}.project_id`,
  min_disk: (a) => `${a}.min_disk`,
  min_ram: (a) => `${a}.min_ram`,
  protected: (a) => `${a}.protected`,
  os_hidden: (a) => `${a}.os_hidden`,
};

/** Filters on columns; `in:a,b` lists are accepted where Glance accepts them. */
const COLUMN_FILTERS: Record<string, string> = {
  id: 'id',
  name: 'name',
  status: 'status',
  owner: 'project_id',
  disk_format: 'disk_format',
  container_format: 'container_format',
};
const BOOLEAN_FILTERS: Record<string, string> = { protected: 'protected', os_hidden: 'os_hidden' };
const IGNORED = ['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'visibility', 'tag', 'size_min', 'size_max', 'member_status'];
const VISIBILITIES = ['public', 'private', 'shared', 'community', 'all'];
/** Glance's member_status filter: which of a member's shared images it lists (default accepted). */
const MEMBER_STATUSES: Record<string, string[]> = {
  accepted: ['accepted'],
  pending: ['pending'],
  rejected: ['rejected'],
  all: ['pending', 'accepted', 'rejected'],
};
const STATUSES: string[] = Object.values(ImageStatus);

export interface ListSpec {
  limit: number;
  marker?: string;
  sort: Array<{ key: string; dir: 'asc' | 'desc' }>;
  visibility?: string;
  /** Member statuses under which a shared image of another project is listed. */
  memberStatuses: string[];
  columns: Array<{ column: string; values: string[] }>;
  booleans: Array<{ column: string; value: boolean }>;
  hidden: boolean;
  tags: string[];
  sizeMin?: number;
  sizeMax?: number;
  properties: Array<{ key: string; value: string }>;
}

const bad = (message: string, field: string): never => {
  throw new ValidationError(message, field);
};
const single = (query: Query, key: string): string | undefined => {
  const v = query[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
};
const many = (query: Query, key: string): string[] => {
  const v = query[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

function int(query: Query, key: string): number | undefined {
  const raw = single(query, key);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) bad(`${key} param must be a non-negative integer`, key);
  return Number(raw);
}

function bool(raw: string, key: string): boolean {
  if (!/^(true|false)$/i.test(raw)) bad(`Invalid value '${raw}' for ${key}: it must be true or false`, key);
  return raw.toLowerCase() === 'true';
}

function parseSort(query: Query): ListSpec['sort'] {
  const sortKeys = many(query, 'sort_key');
  const sortDirs = many(query, 'sort_dir');
  const combined = single(query, 'sort');
  if (combined !== undefined && (sortKeys.length || sortDirs.length)) {
    bad("The 'sort' parameter is not supported with 'sort_key' or 'sort_dir'.", 'sort');
  }
  const pairs: Array<[string, string | undefined]> = combined !== undefined
    ? combined.split(',').map((part) => part.trim().split(':') as [string, string | undefined])
    : sortKeys.map((key, i) => [key, sortDirs[i] ?? sortDirs[0]]);
  const sort = pairs.map(([key, dir = 'desc']) => {
    if (!Object.hasOwn(SORT_KEYS, key)) bad(`Invalid sort key: ${key}. It must be one of the following: ${Object.keys(SORT_KEYS).join(', ')}.`, 'sort_key');
    if (dir !== 'asc' && dir !== 'desc') bad(`Invalid sort direction: ${dir}`, 'sort_dir');
    return { key, dir: dir as 'asc' | 'desc' };
  });
  if (!sort.length) sort.push({ key: 'created_at', dir: 'desc' });
  // A unique last key makes the order total, so markers never skip or repeat an image.
  if (!sort.some((s) => s.key === 'id')) sort.push({ key: 'id', dir: sort[sort.length - 1].dir });
  return sort;
}

export function parseListQuery(query: Query): ListSpec {
  const limit = Math.min(int(query, 'limit') ?? DEFAULT_LIMIT, MAX_LIMIT);
  const visibility = single(query, 'visibility');
  if (visibility !== undefined && !VISIBILITIES.includes(visibility)) bad(`Invalid visibility value: ${visibility}`, 'visibility');
  const memberStatus = single(query, 'member_status') ?? 'accepted';
  if (!Object.hasOwn(MEMBER_STATUSES, memberStatus)) bad(`Invalid status: ${memberStatus}`, 'member_status');
  const spec: ListSpec = {
    limit,
    marker: single(query, 'marker'),
    sort: parseSort(query),
    visibility,
    memberStatuses: MEMBER_STATUSES[memberStatus],
    columns: [],
    booleans: [],
    hidden: false,
    tags: many(query, 'tag'),
    sizeMin: int(query, 'size_min'),
    sizeMax: int(query, 'size_max'),
    properties: [],
  };
  for (const key of Object.keys(query)) {
    const raw = single(query, key)!;
    if (IGNORED.includes(key)) continue;
    if (Object.hasOwn(COLUMN_FILTERS, key)) {
      const values = raw.startsWith('in:') ? raw.slice(3).split(',') : [raw];
      if (key === 'status' && values.some((v) => !STATUSES.includes(v))) bad(`Invalid status value: ${raw}`, 'status');
      spec.columns.push({ column: COLUMN_FILTERS[key], values });
    } else if (key === 'os_hidden') {
      spec.hidden = bool(raw, key);
    } else if (Object.hasOwn(BOOLEAN_FILTERS, key)) {
      spec.booleans.push({ column: BOOLEAN_FILTERS[key], value: bool(raw, key) });
    } else if (key === 'created_at' || key === 'updated_at') {
      bad(`Filtering on ${key} is not supported`, key);
    } else {
      spec.properties.push({ key, value: raw });
    }
  }
  return spec;
}

/** WHERE clause (without the marker) for `spec` as seen by `caller`. */
export function listWhereSql(spec: ListSpec, caller: ImageCaller, params: unknown[]): string {
  const p = (value: unknown) => `$${params.push(value)}`;
  const where = ['i.deleted_at IS NULL', visibleInListSql('i', caller, spec.visibility, spec.memberStatuses, params), `i.os_hidden = ${p(spec.hidden)}`];
  for (const { column, values } of spec.columns) where.push(`i.${column}::text = ANY(${p(values)}::text[])`);
  for (const { column, value } of spec.booleans) where.push(`i.${column} = ${p(value)}`);
  if (spec.tags.length) where.push(`i.tags @> ${p(JSON.stringify(spec.tags))}::jsonb`);
  if (spec.sizeMin !== undefined) where.push(`i.size_bytes >= ${p(spec.sizeMin)}`);
  if (spec.sizeMax !== undefined) where.push(`i.size_bytes <= ${p(spec.sizeMax)}`);
  for (const { key, value } of spec.properties) where.push(`i.properties ->> ${p(key)} = ${p(value)}`);
  return where.join(' AND ');
}

/** Rows strictly after the marker row `m` in the sort order (keyset pagination). */
export function afterMarkerSql(spec: ListSpec, markerParam: string): string {
  const marker = (key: string) => `(SELECT ${SORT_KEYS[key]('m')} FROM image.images m WHERE m.id = ${markerParam})`;
  const clauses = spec.sort.map((s, n) => {
    const equal = spec.sort.slice(0, n).map((e) => `${SORT_KEYS[e.key]('i')} = ${marker(e.key)}`);
    return [...equal, `${SORT_KEYS[s.key]('i')} ${s.dir === 'asc' ? '>' : '<'} ${marker(s.key)}`].join(' AND ');
  });
  return `(${clauses.map((c) => `(${c})`).join(' OR ')})`;
}

export function orderBySql(spec: ListSpec): string {
  return spec.sort.map((s) => `${SORT_KEYS[s.key]('i')} ${s.dir.toUpperCase()}`).join(', ');
}
