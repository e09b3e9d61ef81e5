/**
 * The one place where domain errors become HTTP: status by error code, and the body shape each
 * OpenStack service uses (Nova's {"itemNotFound": {...}}, Keystone's {"error": {...}}, Neutron's
 * {"NeutronError": {...}}), chosen by the path's service prefix.
 */
import { ErrorCode } from '@nubo/contracts';

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.Authentication]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.QuotaExceeded]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.NoValidHost]: 500,
  [ErrorCode.Unsupported]: 501,
  [ErrorCode.Timeout]: 503,
  [ErrorCode.Internal]: 500,
};

/** The status for an error on a path: Glance answers quota overruns with 413, Nova with 403. */
export function statusOf(code: ErrorCode, path: string): number {
  if (code === ErrorCode.QuotaExceeded && path.startsWith('/image')) return 413;
  return STATUS_BY_CODE[code];
}

const NOVA_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

const NEUTRON_TYPES: Record<number, string> = {
  400: 'HTTPBadRequest',
  401: 'HTTPUnauthorized',
  403: 'HTTPForbidden',
  404: 'HTTPNotFound',
  409: 'HTTPConflict',
  500: 'HTTPInternalServerError',
  503: 'HTTPServiceUnavailable',
};

export function titleOf(status: number): string {
  return TITLES[status] ?? 'Error';
}

/** The error body for a request path, in the shape of the OpenStack service that owns it. */
export function errorBody(path: string, status: number, message: string): Record<string, unknown> {
  // Keystone middleware answers 401 in its own shape whichever service was asked.
  if (path.startsWith('/identity') || status === 401) {
    return { error: { code: status, title: titleOf(status), message } };
  }
  if (path.startsWith('/network')) {
    return { NeutronError: { type: NEUTRON_TYPES[status] ?? 'HTTPError', message, detail: '' } };
  }
  if (path.startsWith('/image')) {
    return { code: status, title: titleOf(status), message };
  }
  return { [NOVA_NAMES[status] ?? 'computeFault']: { code: status, message } };
}
