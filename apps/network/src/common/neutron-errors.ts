/**
 * Neutron's exceptions as domain errors. `details.type` carries Neutron's exception name, which
 * the api puts in `NeutronError.type`; the messages are Neutron's own.
 */
import { ConflictError, ForbiddenError, NotFoundError, NuboError, QuotaExceededError, ValidationError } from '@nubo/contracts';

function typed<E extends NuboError>(error: E, type: string): E {
  error.details.type = type;
  return error;
}

/** 400 naming the field, in Neutron's "Invalid input for X. Reason: Y." form. */
export function invalidInput(field: string, reason: string): ValidationError {
  return typed(new ValidationError(`Invalid input for ${field}. Reason: ${reason}.`, field), 'HTTPBadRequest');
}
export function badRequest(message: string, field?: string): ValidationError {
  return typed(new ValidationError(message, field), 'BadRequest');
}
export function notFound(type: string, message: string): NotFoundError {
  return typed(new NotFoundError(message), type);
}
export function conflict(type: string, message: string, details: Record<string, unknown> = {}): ConflictError {
  return typed(new ConflictError(message, details), type);
}
export function forbidden(message: string): ForbiddenError {
  return typed(new ForbiddenError(message), 'HTTPForbidden');
}
/** Neutron answers quota overruns with 409 OverQuota. */
export function overQuota(resource: string): QuotaExceededError {
  return typed(new QuotaExceededError(`Quota exceeded for resources: ['${resource}'].`, { resource }), 'OverQuota');
}
/** NoNetworkAvailable when the VNI range is exhausted (the api answers it with 503, as Neutron). */
export function noNetworkAvailable(): ConflictError {
  return conflict('NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');
}

export const NOT_FOUND = {
  network: (id: string) => notFound('NetworkNotFound', `Network ${id} could not be found.`),
  subnet: (id: string) => notFound('SubnetNotFound', `Subnet ${id} could not be found.`),
  port: (id: string) => notFound('PortNotFound', `Port ${id} could not be found.`),
  securityGroup: (id: string) => notFound('SecurityGroupNotFound', `Security group ${id} does not exist`),
  securityGroupRule: (id: string) => notFound('SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`),
};
