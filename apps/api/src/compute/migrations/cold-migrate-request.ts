/**
 * Nova's migrate action (cold migration) up to microversion 2.55
 * (nova/api/openstack/compute/schemas/migrate_server.py `migrate`): the body is exactly
 * {"migrate": null}; any other value is a 400 naming `migrate`. A host may be named from 2.56,
 * which this API does not serve. Pure.
 */
import { VmState } from '@nubo/contracts';
import { invalid } from '../../common/validation';

export const MIGRATE_ACTION = 'migrate';

/** Nova's compute API resize (which migrate is): check_instance_state(vm_state=[ACTIVE, STOPPED]). */
export const MIGRATE_FROM: VmState[] = [VmState.Active, VmState.Stopped];

/** {"migrate": null}, the only key (the caller found it the one action of the body). */
export function parseMigrate(body: Record<string, unknown>): void {
  const value = body[MIGRATE_ACTION];
  if (value !== null) {
    const shown = value === undefined ? 'None' : JSON.stringify(value);
    invalid(MIGRATE_ACTION, value, `${shown.length > 80 ? `${shown.slice(0, 77)}...` : shown} is not of type 'null'`);
  }
}
