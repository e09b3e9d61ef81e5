import { ErrorCode } from '@nubo/contracts';
import { STATUS_BY_CODE, errorBody, statusOf } from './error-map';

describe('errorBody', () => {
  it.each([
    ['/compute/v2.1/servers', 404, { itemNotFound: { code: 404, message: 'm' } }],
    ['/compute/v2.1/servers', 400, { badRequest: { code: 400, message: 'm' } }],
    ['/compute/v2.1/servers', 409, { conflictingRequest: { code: 409, message: 'm' } }],
    ['/compute/v2.1/servers', 500, { computeFault: { code: 500, message: 'm' } }],
    ['/compute/v2.1/servers', 401, { error: { code: 401, title: 'Unauthorized', message: 'm' } }],
    ['/identity/v3/auth/tokens', 400, { error: { code: 400, title: 'Bad Request', message: 'm' } }],
    ['/network/v2.0/networks', 404, { NeutronError: { type: 'HTTPNotFound', message: 'm', detail: '' } }],
    ['/image/v2/images', 404, { code: 404, title: 'Not Found', message: 'm' }],
  ])('%s %i', (path, status, body) => {
    expect(errorBody(path, status, 'm')).toEqual(body);
  });

  it('maps every error code to a status', () => {
    for (const code of Object.values(ErrorCode)) expect(STATUS_BY_CODE[code]).toBeGreaterThanOrEqual(400);
  });
});

describe('statusOf', () => {
  it('answers quota overruns with 413 on Glance paths and 403 on Nova paths', () => {
    expect(statusOf(ErrorCode.QuotaExceeded, '/image/v2/images')).toBe(413);
    expect(statusOf(ErrorCode.QuotaExceeded, '/compute/v2.1/servers')).toBe(403);
    expect(statusOf(ErrorCode.NotFound, '/image/v2/images/x')).toBe(404);
  });
});
