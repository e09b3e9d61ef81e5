/**
 * PATCH /v2/images/{id} with `application/openstack-images-v2.1-json-patch`. Glance's flavour of
 * RFC 6902: only add, replace and remove, on top-level attributes; `add` of an existing attribute
 * sets it; `replace` or `remove` of a missing property is a 409; core attributes cannot be removed.
 */
import { ConflictError, ForbiddenError, ImageCaller, ValidationError } from '@nubo/contracts';
import { CORE_ATTRIBUTES, MutableImage, assertWritable, setAttribute } from './image-fields';

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

const OPS = ['add', 'replace', 'remove'];

/** The attribute a JSON pointer names (one level, with ~1 and ~0 unescaped). */
function attributeOf(path: unknown): string {
  if (typeof path !== 'string' || !/^\/[^/]+$/.test(path)) {
    throw new ValidationError(`Invalid JSON pointer for this resource: '${String(path)}'`, 'path');
  }
  return path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Checks the patch's shape; nothing is applied when any operation is malformed. */
export function parsePatch(patch: unknown): PatchOp[] {
  if (!Array.isArray(patch)) throw new ValidationError('Request body must be a JSON array of operation objects.', 'body');
  return patch.map((raw) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ValidationError('Operations must be JSON objects.', 'body');
    }
    const { op, path } = raw as Record<string, unknown>;
    if (typeof op !== 'string' || !OPS.includes(op)) {
      throw new ValidationError(`Invalid operation: ${JSON.stringify(op ?? null)}. Operations must be one of add, replace, remove.`, 'op');
    }
    attributeOf(path);
    if (op !== 'remove' && !('value' in raw)) throw new ValidationError(`Operation "${op}" requires a member named "value".`, 'value');
    return raw as PatchOp;
  });
}

/**
 * Applies `patch` to a copy of `image`. `status` matters: formats may change only while queued.
 * Throws ValidationError (400), ForbiddenError (403) or ConflictError (409) like Glance.
 */
export function applyPatch(image: MutableImage, patch: unknown, caller: ImageCaller, status: string): MutableImage {
  const next: MutableImage = { ...image, tags: [...image.tags], properties: { ...image.properties } };
  for (const change of parsePatch(patch)) {
    const key = attributeOf(change.path);
    assertWritable(key);
    const core = Object.hasOwn(CORE_ATTRIBUTES, key);
    if ((key === 'disk_format' || key === 'container_format') && status !== 'queued') {
      throw new ForbiddenError('Properties container_format, disk_format can be set only when image is in queued status.');
    }
    if (change.op === 'remove') {
      if (core) throw new ForbiddenError(`Property ${key} may not be removed.`);
      if (!Object.hasOwn(next.properties, key)) throw new ConflictError(`Property ${key} does not exist.`);
      const { [key]: _removed, ...rest } = next.properties;
      next.properties = rest;
      continue;
    }
    if (change.op === 'replace' && !core && !Object.hasOwn(next.properties, key)) {
      throw new ConflictError(`Property ${key} does not exist.`);
    }
    setAttribute(next, key, change.value, caller);
  }
  return next;
}
