/**
 * Nova's os-migrateLive body (nova/api/openstack/compute/schemas/migrate_server.py), by
 * microversion: 2.1 requires `block_migration`, `disk_over_commit` and `host` (booleans as Nova's
 * parameter_types.boolean, host a hostname or null); 2.25 drops `disk_over_commit` and allows
 * block_migration "auto"; 2.30 adds `force`. Unknown keys: 400 naming them.
 *
 * Forcing (the scheduler's filters skipped, only the host's capacity claimed): `force: true` with
 * a host from 2.30 (without a host: 400, "Can't force to a non-provided destination"); before 2.30
 * a named host is always forced, as Nova did then. From 2.30 a host without `force` (or false) is
 * checked by every filter.
 */
import { ValidationError } from '@nubo/contracts';
import { invalid, onlyKeys, requireObject } from '../../common/validation';

export const LIVE_MIGRATE_ACTION = 'os-migrateLive';

export interface LiveMigrateRequest {
  host: string | null;
  blockMigration: boolean | 'auto';
  force?: boolean;
  /** The requested host is used as given (no filter), only its capacity is claimed. */
  forceDestination: boolean;
}

const TRUE = new Set<unknown>([true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes']);
const FALSE = new Set<unknown>([false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']);
const BOOLEAN_ENUM = `[True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']`;
const HOSTNAME = /^[a-zA-Z0-9-._]*$/;

const atLeast = (version: string, min: string) => {
  const [a, b] = version.split('.').map(Number);
  const [c, d] = min.split('.').map(Number);
  return a !== c ? a > c : b >= d;
};

/** Nova's parameter_types.boolean. */
export function booleanOf(value: unknown, field: string): boolean {
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  return invalid(field, value, `${JSON.stringify(value)} is not one of ${BOOLEAN_ENUM}`);
}

function required(body: Record<string, unknown>, key: string): unknown {
  if (!(key in body)) invalid(key, undefined, `'${key}' is a required property`);
  return body[key];
}

export function parseLiveMigrate(body: Record<string, unknown>, version = '2.1'): LiveMigrateRequest {
  const action = requireObject(body[LIVE_MIGRATE_ACTION], LIVE_MIGRATE_ACTION);
  const v225 = atLeast(version, '2.25');
  const v230 = atLeast(version, '2.30');
  onlyKeys(action, LIVE_MIGRATE_ACTION, ['block_migration', 'host', ...(v225 ? [] : ['disk_over_commit']), ...(v230 ? ['force'] : [])]);
  const rawBlock = required(action, 'block_migration');
  const blockMigration = v225 && rawBlock === 'auto' ? 'auto' : booleanOf(rawBlock, 'block_migration');
  if (!v225) booleanOf(required(action, 'disk_over_commit'), 'disk_over_commit'); // accepted, ignored (no disk check to skip)
  const host = required(action, 'host');
  if (host !== null) {
    if (typeof host !== 'string') invalid('host', host, `${JSON.stringify(host)} is not of type 'string', 'null'`);
    if (host.length < 1) invalid('host', host, `'' is too short`);
    if (host.length > 255) invalid('host', host, `${JSON.stringify(host)} is too long`);
    if (!HOSTNAME.test(host)) invalid('host', host, `${JSON.stringify(host)} does not match '^[a-zA-Z0-9-._]*$'`);
  }
  const force = v230 && action.force !== undefined ? booleanOf(action.force, 'force') : undefined;
  if (force === true && host === null) throw new ValidationError("Can't force to a non-provided destination", 'force');
  const forceDestination = host !== null && (v230 ? force === true : true);
  return { host: host as string | null, blockMigration, ...(force !== undefined ? { force } : {}), forceDestination };
}

/** {"force_complete": null}: exactly that key (Nova's schema: type null). */
export function parseForceComplete(body: unknown): void {
  const obj = requireObject(body, 'body');
  onlyKeys(obj, 'body', ['force_complete']);
  if (!('force_complete' in obj)) invalid('force_complete', undefined, `'force_complete' is a required property`);
  if (obj.force_complete !== null) invalid('force_complete', obj.force_complete, `${JSON.stringify(obj.force_complete)} is not of type 'null'`);
}
