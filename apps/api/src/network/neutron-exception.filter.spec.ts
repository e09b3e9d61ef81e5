import { ArgumentsHost } from '@nestjs/common';
import { ConflictError, NotFoundError, NuboError, QuotaExceededError, TimeoutError, ValidationError } from '@nubo/contracts';
import { NeutronExceptionFilter } from './neutron-exception.filter';

function answer(error: unknown): { status: number; body: unknown } {
  const out = { status: 0, body: undefined as unknown };
  const res = {
    status: (s: number) => ((out.status = s), res),
    json: (b: unknown) => ((out.body = b), res),
    setHeader: () => res,
    getHeader: () => undefined,
  };
  const host = { switchToHttp: () => ({ getRequest: () => ({ path: '/network/v2.0/ports', method: 'POST', get: () => 'h', protocol: 'http' }), getResponse: () => res }) };
  new NeutronExceptionFilter().catch(error, host as unknown as ArgumentsHost);
  return out;
}
const typed = <E extends NuboError>(e: E, type: string) => (Object.assign(e.details, { type }), e);

describe(NeutronExceptionFilter.name, () => {
  it.each([
    ['a named conflict', typed(new ConflictError('in use'), 'NetworkInUse'), 409, 'NetworkInUse'],
    ['OverQuota (409, not Nova\'s 403)', typed(new QuotaExceededError("Quota exceeded for resources: ['port']."), 'OverQuota'), 409, 'OverQuota'],
    ['NoNetworkAvailable', typed(new ConflictError('none left'), 'NoNetworkAvailable'), 503, 'NoNetworkAvailable'],
    ['a named 404', typed(new NotFoundError('Port x could not be found.'), 'PortNotFound'), 404, 'PortNotFound'],
    ['a bad request', typed(new ValidationError('Invalid input for cidr.', 'cidr'), 'HTTPBadRequest'), 400, 'HTTPBadRequest'],
    ['an unnamed timeout', new TimeoutError('no reply'), 503, 'HTTPServiceUnavailable'],
  ])('answers %s', (_name, error, status, type) => {
    const { status: got, body } = answer(error);
    expect(got).toBe(status);
    expect(body).toEqual({ NeutronError: { type, message: (error as Error).message, detail: '' } });
  });
});
