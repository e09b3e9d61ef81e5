/**
 * Validation of what reaches a driver. Server ids become directory names and QEMU arguments, so
 * they must be canonical UUIDs; sizes must be positive integers.
 */
import { InstanceSpec, ValidationError } from '@nubo/contracts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** QEMU q35 accepts at most 288 vCPUs. */
export const MAX_VCPUS = 288;

export function isServerId(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function assertServerId(value: unknown): string {
  if (!isServerId(value)) throw new ValidationError('serverId must be a lower-case UUID', 'serverId');
  return value;
}

export function validateInstanceSpec(spec: unknown): InstanceSpec {
  if (!spec || typeof spec !== 'object') throw new ValidationError('spec is required', 'spec');
  const s = spec as Partial<InstanceSpec>;
  assertServerId(s.serverId);
  positiveInt(s.vcpus, 'spec.vcpus', MAX_VCPUS);
  positiveInt(s.ramMb, 'spec.ramMb');
  if (!Number.isInteger(s.diskGb) || (s.diskGb as number) < 0) {
    throw new ValidationError('spec.diskGb must be an integer >= 0', 'spec.diskGb');
  }
  return { serverId: s.serverId as string, vcpus: s.vcpus as number, ramMb: s.ramMb as number, diskGb: s.diskGb as number };
}

function positiveInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw new ValidationError(`${field} must be an integer between 1 and ${max}`, field);
  }
}
