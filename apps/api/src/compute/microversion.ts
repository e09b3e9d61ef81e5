/**
 * Nova microversions: the client asks with `OpenStack-API-Version: compute 2.x` (or the legacy
 * X-OpenStack-Nova-API-Version); we answer with the version used, 406 beyond our newest.
 * Handlers read the negotiated version with @ComputeVersion() and gate behaviour with atLeast();
 * what each version changes, and what Nubo does about it, is listed in microversion-history.ts.
 */
import { ExecutionContext, HttpException, createParamDecorator } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import type { NextFunction, Request, Response } from 'express';

export const MIN_VERSION = '2.1';
export const MAX_VERSION = '2.30';

const parse = (v: string) => v.split('.').map(Number) as [number, number];
const cmp = (a: string, b: string) => {
  const [am, an] = parse(a);
  const [bm, bn] = parse(b);
  return am - bm || an - bn;
};

/** True when the negotiated `version` is `min` or later ("2.10" is after "2.9"). */
export const atLeast = (version: string, min: string): boolean => cmp(version, min) >= 0;

export function negotiate(requested: string | undefined): string {
  if (!requested) return MIN_VERSION;
  if (requested === 'latest') return MAX_VERSION;
  if (!/^([1-9]\d*)\.([1-9]\d*|0)$/.test(requested)) {
    throw new HttpException(`Invalid API version request: "${requested}"`, 400);
  }
  if (cmp(requested, MIN_VERSION) < 0 || cmp(requested, MAX_VERSION) > 0) {
    throw new HttpException(`Version ${requested} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`, 406);
  }
  return requested;
}

type VersionedRequest = Request & { computeVersion?: string };

export function microversionMiddleware(req: Request, res: Response, next: NextFunction): void {
  const header = req.header('openstack-api-version');
  const fromStandard = header
    ?.split(',')
    .map((part) => part.trim().split(/\s+/))
    .find(([service]) => service?.toLowerCase() === 'compute')?.[1];
  try {
    const version = negotiate(fromStandard ?? req.header('x-openstack-nova-api-version') ?? undefined);
    (req as VersionedRequest).computeVersion = version;
    res.setHeader('OpenStack-API-Version', `compute ${version}`);
    res.setHeader('X-OpenStack-Nova-API-Version', version);
    res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    next();
  } catch (error) {
    next(error);
  }
}

/** The negotiated compute microversion of this request ("2.1" outside /compute). */
export const ComputeVersion = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): string => ctx.switchToHttp().getRequest<VersionedRequest>().computeVersion ?? MIN_VERSION,
);

/** A call that does not exist before `min` answers as Nova's VersionNotFoundForAPIMethod: 404. */
export function requireVersion(version: string, min: string): void {
  if (!atLeast(version, min)) throw new NotFoundError('The resource could not be found.');
}
