/**
 * Request bodies of Nova's os-aggregates (microversion 2.1 schemas, nova/api/openstack/compute/
 * schemas/aggregates.py), checked into typed requests; bad input is a 400 naming the field.
 */
import { NotFoundError, ValidationError } from '@nubo/contracts';
import { invalid, onlyKeys, requireObject } from '../../common/validation';
import { checkNovaName, isNovaName } from '../shared/nova-names';

export interface CreateAggregateRequest {
  name: string;
  availabilityZone: string | null;
}

/** Absent keys are left as they are; `availabilityZone: null` asks to clear the zone (Nova refuses it). */
export interface UpdateAggregateRequest {
  name?: string;
  availabilityZone?: string | null;
}

export type AggregateAction =
  | { action: 'add_host'; host: string }
  | { action: 'remove_host'; host: string }
  | { action: 'set_metadata'; metadata: Record<string, string | null> };

/** Nova's ids are integers: anything else is a 400, an integer nobody has a 404. */
export function parseAggregateId(id: string): number {
  if (!/^-?\d+$/.test(id)) throw new ValidationError('Invalid input received: id must be an integer', 'id');
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n < 1 || n > 0x7fffffff) throw new NotFoundError(`Aggregate ${id} could not be found.`);
  return n;
}

function zoneOrNull(obj: Record<string, unknown>): string | null {
  return obj.availability_zone === null ? null : checkNovaName(obj.availability_zone, 'availability_zone', 'az_name');
}

export function parseCreateAggregate(body: unknown): CreateAggregateRequest {
  const top = requireObject(body, 'body');
  onlyKeys(top, 'body', ['aggregate']);
  const agg = requireObject(top.aggregate, 'aggregate');
  onlyKeys(agg, 'aggregate', ['name', 'availability_zone']);
  const name = checkNovaName(agg.name, 'name', 'name');
  const availabilityZone = agg.availability_zone === undefined ? null : zoneOrNull(agg);
  return { name: name.trim(), availabilityZone: availabilityZone?.trim() || null };
}

export function parseUpdateAggregate(body: unknown): UpdateAggregateRequest {
  const top = requireObject(body, 'body');
  onlyKeys(top, 'body', ['aggregate']);
  const agg = requireObject(top.aggregate, 'aggregate');
  onlyKeys(agg, 'aggregate', ['name', 'availability_zone']);
  if (agg.name === undefined && agg.availability_zone === undefined) {
    invalid('aggregate', agg, `${JSON.stringify(agg)} is not valid under any of the given schemas`);
  }
  const out: UpdateAggregateRequest = {};
  // Nova strips the name (normalize_name) after allowing surrounding blanks.
  if (agg.name !== undefined) out.name = checkNovaName(agg.name, 'name', 'name_with_leading_trailing_spaces').trim();
  if (agg.availability_zone !== undefined) out.availabilityZone = zoneOrNull(agg);
  return out;
}

const HOST = /^[a-zA-Z0-9-._]{1,255}$/;
const METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

/** One action a request: add_host, remove_host or set_metadata. */
export function parseAggregateAction(body: unknown): AggregateAction {
  const top = requireObject(body, 'body');
  const keys = Object.keys(top);
  if (keys.length !== 1) throw new ValidationError('Malformed request body: exactly one action is required', 'body');
  const [name] = keys;
  if (name === 'add_host' || name === 'remove_host') {
    const args = requireObject(top[name], name);
    onlyKeys(args, name, ['host']);
    if (args.host === undefined) invalid('host', undefined, `'host' is a required property`);
    if (typeof args.host !== 'string') invalid('host', args.host, `${JSON.stringify(args.host)} is not of type 'string'`);
    if (!HOST.test(args.host as string)) invalid('host', args.host, `${JSON.stringify(args.host)} does not match '^[a-zA-Z0-9-._]*$'`);
    return { action: name, host: args.host as string };
  }
  if (name === 'set_metadata') {
    const args = requireObject(top.set_metadata, 'set_metadata');
    onlyKeys(args, 'set_metadata', ['metadata']);
    const metadata = requireObject(args.metadata, 'metadata');
    for (const [k, v] of Object.entries(metadata)) {
      if (!METADATA_KEY.test(k)) invalid('metadata', metadata, `Additional properties are not allowed (${JSON.stringify(k)} was unexpected)`);
      if (v !== null && typeof v !== 'string') invalid(`metadata/${k}`, v, `${JSON.stringify(v)} is not of type 'string', 'null'`);
      if (typeof v === 'string' && v.length > 255) invalid(`metadata/${k}`, v, `${JSON.stringify(v.slice(0, 60))}... is too long`);
      // The zone doubles as a server create's "zone:host": stricter than Nova, which takes any value here.
      if (k === 'availability_zone' && typeof v === 'string' && v !== '' && !isNovaName(v, 'az_name')) {
        invalid('metadata/availability_zone', v, `An invalid 'name' value was provided. The name must be: printable characters except :.Can not start or end with whitespace.`);
      }
    }
    return { action: 'set_metadata', metadata: metadata as Record<string, string | null> };
  }
  throw new ValidationError(`There is no such action: ${name}`, 'action');
}
