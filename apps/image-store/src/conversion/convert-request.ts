/**
 * POST /nubo/v1/images/{id}/convert: `{"disk_format": "raw" | "qcow2", "compress": bool, "name": str}`,
 * checked against the source image. Errors answer 400 naming the field, like Nova's schema checks.
 */
import { ConflictError, ImageStatus, ValidationError } from '@nubo/contracts';
import type { ConvertFormat } from './qemu-img-convert';

export interface ConvertSource {
  id: string;
  name: string;
  status: string;
  diskFormat: string | null;
  virtualSize: number | null;
}

export interface ConvertOrder {
  diskFormat: ConvertFormat;
  sourceFormat: ConvertFormat;
  compress: boolean;
  name: string;
}

const FORMATS: readonly ConvertFormat[] = ['raw', 'qcow2'];
const KEYS = ['disk_format', 'compress', 'name'];

function show(value: unknown): string {
  const text = value === undefined ? 'None' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function invalid(field: string, value: unknown, reason: string): never {
  throw new ValidationError(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${reason}`, field);
}

/** The conversion asked for, or a ValidationError (400) / ConflictError (409) saying why not. */
export function parseConvertRequest(body: unknown, source: ConvertSource, limits: { maxBytes: number }): ConvertOrder {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) invalid('body', body, `${show(body)} is not of type 'object'`);
  const fields = body as Record<string, unknown>;
  const extra = Object.keys(fields).filter((k) => !KEYS.includes(k));
  if (extra.length) {
    invalid(extra[0], fields[extra[0]], `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  const diskFormat = fields.disk_format;
  if (diskFormat === undefined) invalid('disk_format', diskFormat, "'disk_format' is a required property");
  if (!FORMATS.includes(diskFormat as ConvertFormat)) invalid('disk_format', diskFormat, `${show(diskFormat)} is not one of ['raw', 'qcow2']`);
  const compress = fields.compress ?? false;
  if (typeof compress !== 'boolean') invalid('compress', compress, `${show(compress)} is not of type 'boolean'`);
  if (compress && diskFormat !== 'qcow2') invalid('compress', compress, 'Compression needs disk_format qcow2');
  const suffix = ` (${diskFormat as string})`;
  const name = fields.name ?? `${source.name.slice(0, 255 - suffix.length)}${suffix}`;
  if (typeof name !== 'string') invalid('name', name, `${show(name)} is not of type 'string'`);
  if (name.length > 255) invalid('name', name, `${show(name)} is too long`);

  if (source.status !== ImageStatus.Active) throw new ConflictError(`Image ${source.id} is ${source.status}: only active images can be converted.`);
  if (!FORMATS.includes(source.diskFormat as ConvertFormat)) {
    throw new ValidationError(`Image ${source.id} has disk_format ${source.diskFormat}: only raw and qcow2 images can be converted.`, 'disk_format');
  }
  // A raw file is as large as its disk: refuse before converting what could not be stored.
  if (diskFormat === 'raw' && (source.virtualSize ?? 0) > limits.maxBytes) {
    invalid('disk_format', diskFormat, `A raw image of ${source.virtualSize} bytes exceeds the storage limit of ${limits.maxBytes} bytes`);
  }
  return { diskFormat: diskFormat as ConvertFormat, sourceFormat: source.diskFormat as ConvertFormat, compress, name };
}
