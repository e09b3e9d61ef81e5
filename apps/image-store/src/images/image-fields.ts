/**
 * Glance's image attributes as the API writes them: which are core, read-only or reserved, and how
 * each value is checked (Glance's image schema). Shared by create (POST) and update (PATCH).
 */
import {
  ForbiddenError,
  IMAGE_CONTAINER_FORMATS,
  IMAGE_DISK_FORMATS,
  IMAGE_VISIBILITIES,
  ImageCaller,
  ImageVisibility,
  ValidationError,
} from '@nubo/contracts';

/** The part of an image its users may change. */
export interface MutableImage {
  name: string;
  visibility: ImageVisibility;
  protected: boolean;
  hidden: boolean;
  minDisk: number;
  minRam: number;
  diskFormat: string | null;
  containerFormat: string | null;
  tags: string[];
  properties: Record<string, string>;
  projectId: string;
}

/** Core attributes by their Glance name. */
export const CORE_ATTRIBUTES: Record<string, keyof MutableImage> = {
  name: 'name',
  visibility: 'visibility',
  protected: 'protected',
  os_hidden: 'hidden',
  min_disk: 'minDisk',
  min_ram: 'minRam',
  disk_format: 'diskFormat',
  container_format: 'containerFormat',
  tags: 'tags',
  owner: 'projectId',
};

export const READ_ONLY_ATTRIBUTES = [
  'id', 'created_at', 'updated_at', 'status', 'checksum', 'os_hash_algo', 'os_hash_value', 'size',
  'virtual_size', 'direct_url', 'self', 'file', 'schema',
];
const RESERVED_ATTRIBUTES = ['location', 'locations', 'deleted', 'deleted_at'];
export const MAX_PROPERTIES = 128;
const MAX_TAGS = 128;

export function schemaError(reason: string, field: string): never {
  // Glance (jsonschema) ends its message with the failing property's path; so do we.
  throw new ValidationError(`Provided object does not match schema 'image': ${reason} Failed validating in schema['properties']['${field}']`, field);
}

const show = (value: unknown) => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value));
const oneOf = (values: readonly string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;

/** Glance answers 403 for attributes nobody may write. */
export function assertWritable(key: string): void {
  if (READ_ONLY_ATTRIBUTES.includes(key)) throw new ForbiddenError(`Attribute '${key}' is read-only.`);
  if (RESERVED_ATTRIBUTES.includes(key) || key.startsWith('os_glance')) throw new ForbiddenError(`Attribute '${key}' is reserved.`);
}

function integer(key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) schemaError(`${show(value)} is not of type 'integer'`, key);
  if ((value as number) < 0) schemaError(`${value} is less than the minimum of 0`, key);
  if ((value as number) > 2 ** 31 - 1) schemaError(`${value} is greater than the maximum of ${2 ** 31 - 1}`, key);
  return value as number;
}

function boolean(key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') schemaError(`${show(value)} is not of type 'boolean'`, key);
  return value as boolean;
}

function enumOrNull(key: string, value: unknown, values: readonly string[]): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || !values.includes(value)) schemaError(`${show(value)} is not one of ${oneOf(values)}`, key);
  return value as string;
}

function tags(value: unknown): string[] {
  if (!Array.isArray(value)) schemaError(`${show(value)} is not of type 'array'`, 'tags');
  const list = value as unknown[];
  for (const tag of list) {
    if (typeof tag !== 'string' || tag.length < 1 || tag.length > 255) schemaError(`${show(tag)} is not a valid tag`, 'tags');
  }
  if (list.length > MAX_TAGS) schemaError(`an image has at most ${MAX_TAGS} tags`, 'tags');
  return [...new Set(list as string[])];
}

/** Sets one core attribute after Glance's checks; `caller` decides what only admins may do. */
export function setCore(image: MutableImage, key: string, value: unknown, caller: ImageCaller): void {
  switch (Object.hasOwn(CORE_ATTRIBUTES, key) ? CORE_ATTRIBUTES[key] : undefined) {
    case 'name':
      if (value === null) value = '';
      if (typeof value !== 'string') schemaError(`${show(value)} is not of type 'string'`, key);
      if ((value as string).length > 255) schemaError(`${show(value)} is too long`, key);
      image.name = value as string;
      return;
    case 'visibility': {
      const visibility = enumOrNull(key, value, IMAGE_VISIBILITIES) ?? schemaError('None is not of type \'string\'', key);
      if (visibility === 'public' && !caller.isAdmin && image.visibility !== 'public') {
        throw new ForbiddenError('You are not authorized to complete publicize_image action.');
      }
      image.visibility = visibility as ImageVisibility;
      return;
    }
    case 'protected':
      image.protected = boolean(key, value);
      return;
    case 'hidden':
      image.hidden = boolean(key, value);
      return;
    case 'minDisk':
      image.minDisk = integer(key, value);
      return;
    case 'minRam':
      image.minRam = integer(key, value);
      return;
    case 'diskFormat':
      image.diskFormat = enumOrNull(key, value, IMAGE_DISK_FORMATS);
      return;
    case 'containerFormat':
      image.containerFormat = enumOrNull(key, value, IMAGE_CONTAINER_FORMATS);
      return;
    case 'tags':
      image.tags = tags(value);
      return;
    case 'projectId':
      if (typeof value !== 'string' || value.length < 1 || value.length > 255) schemaError(`${show(value)} is not a valid owner`, key);
      if (value !== image.projectId && !caller.isAdmin) {
        throw new ForbiddenError(`You are not permitted to set the owner of an image to '${value}'.`);
      }
      image.projectId = value as string;
      return;
    default:
      throw new Error(`${key} is not a core attribute`);
  }
}

/** Sets an additional property: Glance's schema wants string values. */
export function setProperty(image: MutableImage, key: string, value: unknown): void {
  if (key.length < 1 || key.length > 255) schemaError(`property name ${show(key)} must be 1 to 255 characters`, key);
  if (typeof value !== 'string') schemaError(`${show(value)} is not of type 'string'`, key);
  if ((value as string).length > 65535) schemaError(`value of ${show(key)} is too long`, key);
  if (!Object.hasOwn(image.properties, key) && Object.keys(image.properties).length >= MAX_PROPERTIES) {
    throw new ValidationError(`Maximum number of image properties (${MAX_PROPERTIES}) exceeded`, key);
  }
  image.properties = { ...image.properties, [key]: value as string };
}

/** Sets any writable attribute, core or additional. */
export function setAttribute(image: MutableImage, key: string, value: unknown, caller: ImageCaller): void {
  assertWritable(key);
  if (Object.hasOwn(CORE_ATTRIBUTES, key)) setCore(image, key, value, caller);
  else setProperty(image, key, value);
}
