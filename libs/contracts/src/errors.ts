/**
 * Domain errors shared by every app. Services and drivers throw these; the api maps `code` to an
 * HTTP status in one table (apps/api/src/common/error-map.ts); RPC handlers carry them across NATS
 * as `{ code, message, details }` and `fromWire` rebuilds them on the caller's side.
 *
 *   NuboError
 *   ├── ValidationError        bad input; `details.field` names it
 *   ├── NotFoundError          unknown id, or another tenant's (never say which)
 *   ├── ConflictError          state conflict: another operation in flight, duplicate name
 *   ├── AuthenticationError    no or bad credentials
 *   ├── ForbiddenError         authenticated but not allowed
 *   ├── QuotaExceededError
 *   ├── NoValidHostError       placement found no host
 *   ├── UnsupportedError       a driver or feature does not do this
 *   ├── TimeoutError           an RPC or an operation ran out of time
 *   └── InternalError          anything else; the message is safe to show
 */
export enum ErrorCode {
  Validation = 'validation',
  NotFound = 'not_found',
  Conflict = 'conflict',
  Authentication = 'authentication',
  Forbidden = 'forbidden',
  QuotaExceeded = 'quota_exceeded',
  NoValidHost = 'no_valid_host',
  Unsupported = 'unsupported',
  Timeout = 'timeout',
  Internal = 'internal',
}

export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export class NuboError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export class ValidationError extends NuboError {
  constructor(message: string, field?: string) {
    super(ErrorCode.Validation, message, field ? { field } : {});
  }
}
export class NotFoundError extends NuboError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.NotFound, message, details);
  }
}
export class ConflictError extends NuboError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.Conflict, message, details);
  }
}
export class AuthenticationError extends NuboError {
  constructor(message = 'The request you have made requires authentication.') {
    super(ErrorCode.Authentication, message);
  }
}
export class ForbiddenError extends NuboError {
  constructor(message: string) {
    super(ErrorCode.Forbidden, message);
  }
}
export class QuotaExceededError extends NuboError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.QuotaExceeded, message, details);
  }
}
export class NoValidHostError extends NuboError {
  constructor(reason: string) {
    super(ErrorCode.NoValidHost, `No valid host was found. ${reason}`);
  }
}
export class UnsupportedError extends NuboError {
  constructor(operation: string) {
    super(ErrorCode.Unsupported, `Operation not supported: ${operation}`, { operation });
  }
}
export class TimeoutError extends NuboError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.Timeout, message, details);
  }
}
export class InternalError extends NuboError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.Internal, message, details);
  }
}

const byCode: Record<ErrorCode, new (message: string) => NuboError> = {
  [ErrorCode.Validation]: ValidationError,
  [ErrorCode.NotFound]: NotFoundError,
  [ErrorCode.Conflict]: ConflictError,
  [ErrorCode.Authentication]: AuthenticationError,
  [ErrorCode.Forbidden]: ForbiddenError,
  [ErrorCode.QuotaExceeded]: QuotaExceededError,
  [ErrorCode.NoValidHost]: class extends NuboError {
    constructor(m: string) {
      super(ErrorCode.NoValidHost, m);
    }
  },
  [ErrorCode.Unsupported]: class extends NuboError {
    constructor(m: string) {
      super(ErrorCode.Unsupported, m);
    }
  },
  [ErrorCode.Timeout]: TimeoutError,
  [ErrorCode.Internal]: InternalError,
};

/** Rebuilds a domain error from its wire form; anything unrecognised becomes an InternalError. */
export function fromWire(value: unknown): NuboError {
  if (value && typeof value === 'object' && 'code' in value && 'message' in value) {
    const wire = value as WireError;
    const Ctor = byCode[wire.code];
    if (Ctor) {
      const error = new Ctor(String(wire.message));
      Object.assign(error.details, wire.details ?? {});
      return error;
    }
  }
  const message = value instanceof Error ? value.message : JSON.stringify(value);
  return new InternalError(message ?? 'unknown error');
}
