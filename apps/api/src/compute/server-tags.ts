/**
 * Nova's server tags (microversion 2.26) and description (2.19), pure: the checks of Nova's
 * schemas (a tag is 1-60 characters without ',' or '/', at most 50 per server; a description
 * is null or up to 255 printable characters) and the list filters tags / tags-any / not-tags /
 * not-tags-any (comma-separated).
 */
import { ConflictError, ValidationError, VmState } from '@nubo/contracts';
import { invalid } from '../common/validation';

export const MAX_TAGS = 50;
/** Nova's _check_instance_in_valid_state for tag changes. */
export const TAGGABLE_FROM: VmState[] = [VmState.Active, VmState.Paused, VmState.Resized, VmState.Stopped, VmState.Suspended];

export function checkTag(tag: unknown, field = 'tag'): string {
  if (typeof tag !== 'string') invalid(field, tag as never, `${JSON.stringify(tag)} is not of type 'string'`);
  if (tag.length < 1) invalid(field, tag, `'' is too short`);
  if (tag.length > 60) invalid(field, tag, `${JSON.stringify(tag)} is too long`);
  if (/[,/]/.test(tag)) invalid(field, tag, `${JSON.stringify(tag)} does not match '^[^,/]*$'`);
  return tag;
}

/** PUT /servers/{id}/tags: {"tags": [...]}, a set (duplicates folded), sorted. */
export function parseTagList(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) invalid('body', body as never, `${JSON.stringify(body)} is not of type 'object'`);
  const obj = body as Record<string, unknown>;
  const extra = Object.keys(obj).filter((k) => k !== 'tags');
  if (extra.length) invalid(extra[0], obj[extra[0]] as never, `Additional properties are not allowed ('${extra[0]}' was unexpected)`);
  if (!('tags' in obj)) invalid('tags', undefined as never, `'tags' is a required property`);
  if (!Array.isArray(obj.tags)) invalid('tags', obj.tags as never, `${JSON.stringify(obj.tags)} is not of type 'array'`);
  const tags = [...new Set((obj.tags as unknown[]).map((t) => checkTag(t, 'tags')))].sort();
  if (tags.length > MAX_TAGS) throw tooMany();
  return tags;
}

export const tooMany = () => new ValidationError(`The number of tags exceeded the per-server limit ${MAX_TAGS}`, 'tags');

export function checkTaggable(s: { id: string; vmState: VmState; taskState: string | null }, method: string): void {
  if (!TAGGABLE_FROM.includes(s.vmState)) {
    throw new ConflictError(`Cannot '${method}' instance ${s.id} while it is in vm_state ${s.vmState}`);
  }
}

/** `description` of a create/update body (key allowed by the caller from 2.19): undefined when absent. */
export function parseServerDescription(obj: Record<string, unknown>): string | null | undefined {
  if (!('description' in obj)) return undefined;
  const d = obj.description;
  if (d === null) return null;
  if (typeof d !== 'string') invalid('description', d as never, `${JSON.stringify(d)} is not of type 'string', 'null'`);
  if (d.length > 255) invalid('description', d, `${JSON.stringify(d)} is too long`);
  // Nova's printable-characters pattern: no control characters.
  if (/[\u0000-\u001f\u007f]/.test(d)) invalid('description', d, `${JSON.stringify(d)} does not match the pattern of printable characters`);
  return d;
}

/** SQL conditions for the 2.26 tag filters on `s.tags`, each value a comma-separated list. */
export function tagFilters(one: (key: string) => string | undefined, bind: (v: unknown) => string): string[] {
  const list = (key: string) => {
    const raw = one(key);
    if (raw === undefined) return undefined;
    return raw.split(',').map((t) => checkTag(t.trim(), key));
  };
  const where: string[] = [];
  const all = list('tags');
  if (all) where.push(`s.tags @> CAST(${bind(all)} AS text[])`);
  const any = list('tags-any');
  if (any) where.push(`s.tags && CAST(${bind(any)} AS text[])`);
  const notAll = list('not-tags');
  if (notAll) where.push(`NOT (s.tags @> CAST(${bind(notAll)} AS text[]))`);
  const notAny = list('not-tags-any');
  if (notAny) where.push(`NOT (s.tags && CAST(${bind(notAny)} AS text[]))`);
  return where;
}
