/** POST /v2/images: Glance's create body, checked the way Glance's image schema checks it. */
import { ForbiddenError, ImageCaller, ValidationError } from '@nubo/contracts';
import { MutableImage, assertWritable, schemaError, setAttribute } from './image-fields';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export interface NewImage extends MutableImage {
  /** A caller-chosen id (Glance allows it); otherwise the store picks one. */
  id?: string;
}

/** Glance's defaults: visibility `shared` (private until members exist), unprotected, no formats. */
export function defaultImage(caller: ImageCaller): MutableImage {
  return {
    name: '',
    visibility: 'shared',
    protected: false,
    hidden: false,
    minDisk: 0,
    minRam: 0,
    diskFormat: null,
    containerFormat: null,
    tags: [],
    properties: {},
    projectId: caller.projectId,
  };
}

export function parseCreateBody(body: unknown, caller: ImageCaller): NewImage {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('Request body must be a JSON object', 'body');
  }
  const image: NewImage = defaultImage(caller);
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (key === 'id') {
      if (typeof value !== 'string' || !UUID.test(value)) schemaError(`${JSON.stringify(value)} is not a valid UUID`, 'id');
      image.id = value.toLowerCase().replace(/^(.{8})-?(.{4})-?(.{4})-?(.{4})-?(.{12})$/, '$1-$2-$3-$4-$5');
      continue;
    }
    assertWritable(key);
    // Glance's create policy names the owner check explicitly.
    if (key === 'owner' && value !== caller.projectId && !caller.isAdmin) {
      throw new ForbiddenError(`You are not permitted to create images owned by '${String(value)}'.`);
    }
    setAttribute(image, key, value, caller);
  }
  return image;
}
