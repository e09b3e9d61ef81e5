/** Neutron-named errors raised by the api itself (the network service raises its own). */
import { NotFoundError } from '@nubo/contracts';

export function neutronNotFound(type: string, message: string): NotFoundError {
  return new NotFoundError(message, { type });
}
