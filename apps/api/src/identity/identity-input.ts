/**
 * Request bodies and query filters of the Keystone admin calls, checked before anything is
 * stored. What Nubo does not keep (tags, options, project hierarchy, e-mail, description of users)
 * is refused with a 400 naming the field rather than silently dropped; the empty values the
 * openstack CLI always sends (`"options": {}`, `"tags": []`) pass.
 */
import { invalid, onlyKeys, requireObject, requireString } from '../common/validation';
import { ListFilters } from './identity-records';

export interface ProjectCreate {
  name: string;
  domainId?: string;
  description: string;
  enabled: boolean;
}

export interface ProjectUpdate {
  name?: string;
  description?: string;
  enabled?: boolean;
}

export interface UserCreate {
  name: string;
  domainId?: string;
  defaultProjectId?: string;
  /** Absent: the user cannot log in with a password (Keystone's passwordless user). */
  password?: string;
  enabled: boolean;
}

export interface UserUpdate {
  name?: string;
  /** null clears it. */
  defaultProjectId?: string | null;
  password?: string;
  enabled?: boolean;
}

type Json = Record<string, unknown>;

const PROJECT_KEYS = ['name', 'domain_id', 'description', 'enabled', 'parent_id', 'is_domain', 'options', 'tags'];
const USER_KEYS = ['name', 'domain_id', 'default_project_id', 'password', 'enabled', 'email', 'description', 'options'];
/** Keystone's max_password_length; also bounds the scrypt work one request can ask for. */
const PASSWORD_MAX = 4096;

function optionalBoolean(obj: Json, key: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') invalid(key, value, `${JSON.stringify(value)} is not of type 'boolean'`);
  return value as boolean;
}

function name(obj: Json, max: number, required: boolean): string | undefined {
  if (!required && obj.name === undefined) return undefined;
  return requireString(obj, 'name', { min: 1, max, trimmed: true });
}

function description(obj: Json): string | undefined {
  const value = obj.description;
  if (value === undefined || value === null) return value === null ? '' : undefined;
  if (typeof value !== 'string') invalid('description', value, `${JSON.stringify(value)} is not of type 'string'`);
  if ((value as string).length > 65535) invalid('description', value, 'description is too long');
  return value as string;
}

/** An id-shaped string, or null/absent. */
function optionalId(obj: Json, key: string): string | null | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return value as null | undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(value)) invalid(key, value, `${JSON.stringify(value)} is not a valid id`);
  return value as string;
}

/** `options` and `tags`: accepted when empty, since Nubo stores neither. */
function nothingStored(obj: Json): void {
  const options = obj.options;
  if (options !== undefined && options !== null) {
    const map = requireObject(options, 'options');
    if (Object.keys(map).length) invalid('options', options, 'resource options are not supported');
  }
  const tags = obj.tags;
  if (tags !== undefined && tags !== null) {
    if (!Array.isArray(tags)) invalid('tags', tags, `${JSON.stringify(tags)} is not of type 'array'`);
    if ((tags as unknown[]).length) invalid('tags', tags, 'tags are not supported');
  }
}

function body(raw: unknown, key: string, allowed: string[]): Json {
  const obj = requireObject(requireObject(raw, 'body')[key], key);
  onlyKeys(obj, key, allowed);
  return obj;
}

export function parseProjectCreate(raw: unknown): ProjectCreate {
  const p = body(raw, 'project', PROJECT_KEYS);
  const domainId = optionalId(p, 'domain_id') ?? undefined;
  const parentId = optionalId(p, 'parent_id');
  if (parentId && parentId !== domainId) invalid('parent_id', parentId, "project hierarchies are not supported: 'parent_id' may only name the project's domain_id");
  if (p.is_domain !== undefined && p.is_domain !== false && p.is_domain !== null) invalid('is_domain', p.is_domain, 'projects acting as domains are not supported');
  nothingStored(p);
  return {
    name: name(p, 64, true)!,
    domainId,
    description: description(p) ?? '',
    enabled: optionalBoolean(p, 'enabled') ?? true,
  };
}

export function parseProjectUpdate(raw: unknown, current: { domainId: string }): ProjectUpdate {
  const p = body(raw, 'project', PROJECT_KEYS);
  if (!Object.keys(p).length) invalid('project', p, 'does not have enough properties');
  if (p.domain_id !== undefined && p.domain_id !== current.domainId) invalid('domain_id', p.domain_id, "a project's domain cannot change");
  if (p.parent_id !== undefined && p.parent_id !== null && p.parent_id !== current.domainId) invalid('parent_id', p.parent_id, "a project's parent cannot change");
  if (p.is_domain !== undefined && p.is_domain !== false) invalid('is_domain', p.is_domain, 'projects acting as domains are not supported');
  nothingStored(p);
  return { name: name(p, 64, false), description: description(p), enabled: optionalBoolean(p, 'enabled') };
}

function password(u: Json): string | undefined {
  const value = u.password;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid('password', undefined, "'password' is not of type 'string'");
  if ((value as string).length > PASSWORD_MAX) invalid('password', undefined, `'password' is longer than ${PASSWORD_MAX} characters`);
  return value as string;
}

/** Keystone keeps e-mail and a user's description as extra attributes; Nubo has nowhere to keep them. */
function noUserExtras(u: Json): void {
  for (const key of ['email', 'description']) {
    if (u[key] !== undefined && u[key] !== null && u[key] !== '') invalid(key, u[key], `'${key}' is not stored by this cloud`);
  }
}

export function parseUserCreate(raw: unknown): UserCreate {
  const u = body(raw, 'user', USER_KEYS);
  nothingStored(u);
  noUserExtras(u);
  return {
    name: name(u, 255, true)!,
    domainId: optionalId(u, 'domain_id') ?? undefined,
    defaultProjectId: optionalId(u, 'default_project_id') ?? undefined,
    password: password(u),
    enabled: optionalBoolean(u, 'enabled') ?? true,
  };
}

export function parseUserUpdate(raw: unknown, current: { domainId: string }): UserUpdate {
  const u = body(raw, 'user', USER_KEYS);
  if (!Object.keys(u).length) invalid('user', u, 'does not have enough properties');
  if (u.domain_id !== undefined && u.domain_id !== current.domainId) invalid('domain_id', u.domain_id, "a user's domain cannot change");
  nothingStored(u);
  noUserExtras(u);
  return {
    name: name(u, 255, false),
    defaultProjectId: optionalId(u, 'default_project_id'),
    password: password(u),
    enabled: optionalBoolean(u, 'enabled'),
  };
}

/** Keystone's boolean query filters: "0" and "false" (any case) are false, anything else true. */
export function queryBoolean(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return true;
  return !['0', 'false'].includes(value.toLowerCase());
}

function queryString(query: Json, key: string): string | undefined {
  const value = query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') invalid(key, value, `query parameter '${key}' must be given once`);
  return value as string;
}

export function parseListFilters(query: Json): ListFilters {
  return { name: queryString(query, 'name'), domainId: queryString(query, 'domain_id'), enabled: queryBoolean(query.enabled) };
}

export interface AssignmentFilters {
  userId?: string;
  projectId?: string;
  roleId?: string;
  includeNames: boolean;
  /** Asked for assignments Nubo never has (groups, domain or system scope): the answer is empty. */
  unsatisfiable: boolean;
}

export function parseAssignmentFilters(query: Json): AssignmentFilters {
  return {
    userId: queryString(query, 'user.id'),
    projectId: queryString(query, 'scope.project.id'),
    roleId: queryString(query, 'role.id'),
    includeNames: queryBoolean(query.include_names) ?? false,
    unsatisfiable: ['group.id', 'scope.domain.id', 'scope.system', 'scope.OS-INHERIT:inherited_to'].some((k) => query[k] !== undefined),
  };
}
