/** Validation of the agent's interface commands (AgentInterfaceOps). Pure. */
import { NicSpec, ValidationError } from '@nubo/contracts';
import { validateNics } from '../hypervisor/instance-spec';
import { DEFAULT_DETACH_TIMEOUT_MS } from '../hypervisor/qemu/qemu-interfaces';

export function validateInterfaceNic(value: unknown): NicSpec {
  if (!value || typeof value !== 'object') throw new ValidationError('nic must be an object', 'nic');
  try {
    return validateNics([value])[0];
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(error.message.replace('spec.nics[0]', 'nic'), String(error.details.field ?? 'nic').replace('spec.nics[0]', 'nic'));
    throw error;
  }
}

/** Seconds the guest gets to release a NIC: 1 to 600, default 30. */
export function detachTimeoutMs(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_DETACH_TIMEOUT_MS;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 600) {
    throw new ValidationError('timeoutSeconds must be an integer from 1 to 600', 'timeoutSeconds');
  }
  return (value as number) * 1000;
}
