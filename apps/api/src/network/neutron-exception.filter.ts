/**
 * Neutron names its errors (`NetworkInUse`, `OverQuota`, ...): the network service puts the name
 * in `details.type`, and this filter, on the Neutron controllers, answers with it and with
 * Neutron's status for it. Errors without a name take the api-wide path.
 */
import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import { ErrorCode, NuboError } from '@nubo/contracts';
import type { Request, Response } from 'express';
import { statusOf } from '../common/error-map';
import { OpenStackExceptionFilter } from '../common/openstack-exception.filter';

/** Where Neutron's status differs from the error code's usual one. */
const STATUS_BY_TYPE: Record<string, number> = { OverQuota: 409, NoNetworkAvailable: 503 };

export function neutronStatus(error: NuboError, path: string): number {
  const type = error.details.type;
  if (typeof type === 'string' && STATUS_BY_TYPE[type]) return STATUS_BY_TYPE[type];
  return error.code === ErrorCode.QuotaExceeded ? 409 : statusOf(error.code, path);
}

@Catch()
export class NeutronExceptionFilter implements ExceptionFilter {
  private readonly fallback = new OpenStackExceptionFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    if (!(exception instanceof NuboError) || typeof exception.details.type !== 'string') {
      this.fallback.catch(exception, host);
      return;
    }
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    res.status(neutronStatus(exception, req.path)).json({ NeutronError: { type: exception.details.type, message: exception.message, detail: '' } });
  }
}
