/**
 * Nova's quota resources at microversion 2.1, their defaults, and the pure checks: which resource a
 * request would push over its limit, Nova's message for it, and the PUT body.
 */
import { ValidationError } from '@nubo/contracts';
import { invalid, onlyKeys, optionalInt, requireObject } from '../../common/validation';

export const QUOTA_DEFAULTS = {
  instances: 10,
  cores: 20,
  ram: 51200,
  key_pairs: 100,
  server_groups: 10,
  server_group_members: 10,
  metadata_items: 128,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  // Network quotas belong to Neutron; Nova 2.1 still shows them, as unlimited.
  fixed_ips: -1,
  floating_ips: -1,
  security_groups: -1,
  security_group_rules: -1,
} as const;

export type QuotaResource = keyof typeof QUOTA_DEFAULTS;
export type QuotaLimits = Record<QuotaResource, number>;
export const QUOTA_RESOURCES = Object.keys(QUOTA_DEFAULTS) as QuotaResource[];

const MAX_LIMIT = 0x7fffffff;

/** Stored rows over the defaults; rows for resources we no longer know are ignored. */
export function resolveLimits(rows: Array<{ resource: string; hard_limit: number }>): QuotaLimits {
  const limits: QuotaLimits = { ...QUOTA_DEFAULTS };
  for (const row of rows) {
    if (row.resource in limits) limits[row.resource as QuotaResource] = Number(row.hard_limit);
  }
  return limits;
}

export interface QuotaCheck {
  resource: string;
  requested: number;
  used: number;
  /** -1 is unlimited. */
  allowed: number;
}

/** The first check that the request would push over its limit. */
export function firstOver(checks: QuotaCheck[]): QuotaCheck | undefined {
  return checks.find((c) => c.allowed >= 0 && c.requested > 0 && c.used + c.requested > c.allowed);
}

/** Nova's TooManyInstances message. */
export function quotaExceededMessage(c: QuotaCheck): string {
  return `Quota exceeded for ${c.resource}: Requested ${c.requested}, but already used ${c.used} of ${c.allowed} ${c.resource}`;
}

export interface QuotaUpdate {
  values: Partial<QuotaLimits>;
  force: boolean;
}

/** PUT /os-quota-sets/{id}: {"quota_set": {resource: int or "int", "force": bool}}. */
export function parseQuotaUpdate(body: unknown): QuotaUpdate {
  const set = requireObject(requireObject(body, 'body').quota_set, 'quota_set');
  onlyKeys(set, 'quota_set', [...QUOTA_RESOURCES, 'force']);
  const values: Partial<QuotaLimits> = {};
  for (const resource of QUOTA_RESOURCES) {
    const value = set[resource];
    if (typeof value === 'string' && !/^-?[0-9]+$/.test(value)) invalid(resource, value, `'${value}' does not match '^-?[0-9]+$'`);
    const n = optionalInt(set, resource, { min: -1, max: MAX_LIMIT });
    if (n !== undefined) values[resource] = n;
  }
  return { values, force: parseBoolean(set.force, 'force') ?? false };
}

const TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

/** Nova's parameter_types.boolean: a JSON boolean or one of its accepted strings. */
export function parseBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && TRUE.includes(value.toLowerCase())) return true;
  if (typeof value === 'string' && FALSE.includes(value.toLowerCase())) return false;
  throw new ValidationError(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${JSON.stringify(value)} is not of type 'boolean', 'string'`, field);
}

/** Nova refuses a limit below what is in use unless forced. */
export function checkNotBelowUsage(values: Partial<QuotaLimits>, inUse: Partial<QuotaLimits>): void {
  for (const [resource, limit] of Object.entries(values) as Array<[QuotaResource, number]>) {
    const used = inUse[resource] ?? 0;
    if (limit !== -1 && limit < used) {
      throw new ValidationError(
        `Quota limit ${limit} for ${resource} must be greater than or equal to already used and reserved ${used}.`,
        resource,
      );
    }
  }
}
