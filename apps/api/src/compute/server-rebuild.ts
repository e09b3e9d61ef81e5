/**
 * Nova's rebuild action at microversion 2.1: the body (checked like Nova's `rebuild` schema), the
 * vm_states it runs from, the new image's fit with the server's flavor (Nova's
 * _validate_flavor_image) and the admin password Nova answers with.
 */
import { ValidationError, VmState } from '@nubo/contracts';
import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { invalid, isUuid, onlyKeys, optionalString, requireObject, requireString } from '../common/validation';
import { atLeast } from './microversion';
import { parseServerDescription } from './server-tags';

export const REBUILD_ACTION = 'rebuild';

/** Nova's compute API rebuild: check_instance_state(vm_state=[ACTIVE, STOPPED, ERROR]). */
export const REBUILD_FROM: VmState[] = [VmState.Active, VmState.Stopped, VmState.Error];

export interface RebuildRequest {
  imageRef: string;
  name?: string;
  adminPass?: string;
  /** Replaces the server's metadata when given (Nova's instance.update(metadata=...)). */
  metadata?: Record<string, string>;
  preserveEphemeral: boolean;
  /** Microversion 2.19: replaces the description (null clears it) when given. */
  description?: string | null;
}

const KEYS = ['name', 'imageRef', 'adminPass', 'metadata', 'preserve_ephemeral', 'OS-DCF:diskConfig', 'accessIPv4', 'accessIPv6', 'personality'];
const METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;
const TRUE = new Set<unknown>([true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes']);
const FALSE = new Set<unknown>([false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']);

/** {"rebuild": {"imageRef": "<uuid>", ...}} */
export function parseRebuild(body: Record<string, unknown>, version = '2.1'): RebuildRequest {
  const action = requireObject(body[REBUILD_ACTION], REBUILD_ACTION);
  onlyKeys(action, REBUILD_ACTION, atLeast(version, '2.19') ? [...KEYS, 'description'] : KEYS);
  const description = parseServerDescription(action);
  const imageRef = requireString(action, 'imageRef');
  if (!isUuid(imageRef)) invalid('imageRef', imageRef, `'${imageRef}' is not a 'uuid'`);
  const name = action.name === undefined ? undefined : requireString(action, 'name', { min: 1, max: 255, trimmed: true });
  const adminPass = optionalString(action, 'adminPass');
  const metadata = action.metadata === undefined ? undefined : parseMetadata(action.metadata);
  const preserve = action.preserve_ephemeral;
  if (preserve !== undefined && !TRUE.has(preserve) && !FALSE.has(preserve)) {
    invalid('preserve_ephemeral', preserve, `${JSON.stringify(preserve)} is not one of the boolean values`);
  }
  const diskConfig = action['OS-DCF:diskConfig'];
  if (diskConfig !== undefined && diskConfig !== 'AUTO' && diskConfig !== 'MANUAL') {
    invalid('OS-DCF:diskConfig', diskConfig, `${JSON.stringify(diskConfig)} is not one of ['AUTO', 'MANUAL']`);
  }
  for (const [field, valid] of [['accessIPv4', isIPv4], ['accessIPv6', isIPv6]] as const) {
    const value = action[field];
    if (value !== undefined && (typeof value !== 'string' || !valid(value))) invalid(field, value, `${JSON.stringify(value)} is not a '${field.slice(-4).toLowerCase()}'`);
  }
  if (action.personality !== undefined && !(Array.isArray(action.personality) && action.personality.length === 0)) {
    throw new ValidationError('Invalid input for field/attribute personality. Nubo injects no files into guests.', 'personality');
  }
  return { imageRef: imageRef.toLowerCase(), name, adminPass, metadata, preserveEphemeral: TRUE.has(preserve), ...(description !== undefined ? { description } : {}) };
}

function parseMetadata(value: unknown): Record<string, string> {
  const given = requireObject(value, 'metadata');
  const entries: Array<[string, string]> = [];
  for (const [key, v] of Object.entries(given)) {
    if (!METADATA_KEY.test(key)) invalid('metadata', given, `Additional properties are not allowed ('${key}' was unexpected)`);
    if (typeof v !== 'string') invalid('metadata', given, `${JSON.stringify(v)} is not of type 'string'`);
    if ((v as string).length > 255) invalid('metadata', given, `${JSON.stringify(v)} is too long`);
    entries.push([key, v as string]);
  }
  return Object.fromEntries(entries);
}

const GiB = 2 ** 30;

/**
 * Why the image cannot back a server of this flavor, in Nova's words (400), or undefined. A
 * flavor disk of 0 means "the image's size", so no disk check then (as Nova).
 */
export function flavorImageProblem(
  flavor: { ramMb: number; diskGb: number },
  image: { minRam: number; minDisk: number; sizeBytes: number | null },
): string | undefined {
  if (flavor.ramMb < image.minRam) return "Flavor's memory is too small for requested image.";
  const dest = flavor.diskGb * GiB;
  if (dest === 0) return undefined;
  const size = image.sizeBytes ?? 0;
  if (size > dest) return `Flavor's disk is too small for requested image. Flavor disk is ${dest} bytes, image is ${size} bytes.`;
  const minDisk = image.minDisk * GiB;
  if (minDisk > dest) {
    return `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${dest} bytes, minimum size is ${minDisk} bytes.`;
  }
  return undefined;
}

const GROUPS = ['23456789', 'ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz'];

/** Nova's generate_password: 12 characters, at least one of each group, no look-alikes. */
export function generateAdminPass(length = 12): string {
  const all = GROUPS.join('');
  const chars = GROUPS.map((g) => g[randomInt(g.length)]);
  while (chars.length < length) chars.push(all[randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}
