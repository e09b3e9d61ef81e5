/**
 * Nova's evacuate body (nova/api/openstack/compute/schemas/evacuate.py), by microversion: 2.1
 * requires `onSharedStorage` (Nova's parameter_types.boolean), allows `host` (a hostname) and
 * `adminPass` (a string); 2.14 drops `onSharedStorage` (400 when given); 2.29 adds `force`
 * ("Can't force to a non-provided destination" without a host). Unknown keys: 400 naming them.
 *
 * Nubo has no guest agent: `adminPass` is accepted and never reaches the guest. As Nova, before
 * 2.14 it is refused with onSharedStorage true, and a password is generated when none is given on
 * local storage (the answer's `adminPass`). `onSharedStorage` itself is informative only: where
 * the disks live is the flavor's `nubo:storage`.
 */
import { ValidationError } from '@nubo/contracts';
import { randomBytes } from 'node:crypto';
import { invalid, onlyKeys, requireObject } from '../../common/validation';
import { booleanOf } from './live-migrate-request';

export const EVACUATE_ACTION = 'evacuate';

export interface EvacuateRequest {
  host: string | null;
  force: boolean;
  /** Before 2.14: what the answer's adminPass is (null on shared storage without one). From 2.14: undefined (no body). */
  adminPass?: string | null;
}

const HOSTNAME = /^[a-zA-Z0-9-._]*$/;
const PASSWORD_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

const atLeast = (version: string, min: string) => {
  const [a, b] = version.split('.').map(Number);
  const [c, d] = min.split('.').map(Number);
  return a !== c ? a > c : b >= d;
};

/** Nova's utils.generate_password: 12 characters without look-alikes. */
export function generatePassword(length = 12): string {
  return [...randomBytes(length)].map((b) => PASSWORD_CHARS[b % PASSWORD_CHARS.length]).join('');
}

export function parseEvacuate(body: Record<string, unknown>, version = '2.1'): EvacuateRequest {
  const action = requireObject(body[EVACUATE_ACTION], EVACUATE_ACTION);
  const v214 = atLeast(version, '2.14');
  const v229 = atLeast(version, '2.29');
  onlyKeys(action, EVACUATE_ACTION, ['host', 'adminPass', ...(v214 ? [] : ['onSharedStorage']), ...(v229 ? ['force'] : [])]);
  const host = action.host === undefined ? null : action.host;
  if (host !== null) {
    if (typeof host !== 'string') invalid('host', host, `${JSON.stringify(host)} is not of type 'string'`);
    if (host.length < 1) invalid('host', host, `'' is too short`);
    if (host.length > 255) invalid('host', host, `${JSON.stringify(host)} is too long`);
    if (!HOSTNAME.test(host)) invalid('host', host, `${JSON.stringify(host)} does not match '^[a-zA-Z0-9-._]*$'`);
  }
  const pass = action.adminPass;
  if (pass !== undefined && typeof pass !== 'string') invalid('adminPass', pass, `${JSON.stringify(pass)} is not of type 'string'`);
  let shared = false;
  if (!v214) {
    if (!('onSharedStorage' in action)) invalid('onSharedStorage', undefined, `'onSharedStorage' is a required property`);
    shared = booleanOf(action.onSharedStorage, 'onSharedStorage');
  }
  const force = v229 && action.force !== undefined ? booleanOf(action.force, 'force') : false;
  if (force && host === null) throw new ValidationError("Can't force to a non-provided destination", 'force');
  if (v214) return { host: host as string | null, force };
  if (shared && pass !== undefined) throw new ValidationError("admin password can't be changed on existing disk", 'adminPass');
  const adminPass = pass !== undefined ? (pass as string) : shared ? null : generatePassword();
  return { host: host as string | null, force, adminPass };
}
