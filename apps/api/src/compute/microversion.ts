/**
 * Nova microversions: the client asks with `OpenStack-API-Version: compute 2.x` (or the legacy
 * X-OpenStack-Nova-API-Version); we answer with the version used, 406 beyond our newest.
 */
import { HttpException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

export const MIN_VERSION = '2.1';
export const MAX_VERSION = '2.1';

const parse = (v: string) => v.split('.').map(Number) as [number, number];
const cmp = (a: string, b: string) => {
  const [am, an] = parse(a);
  const [bm, bn] = parse(b);
  return am - bm || an - bn;
};

export function negotiate(requested: string | undefined): string {
  if (!requested) return MIN_VERSION;
  if (requested === 'latest') return MAX_VERSION;
  if (!/^\d+\.\d+$/.test(requested)) {
    throw new HttpException(`Invalid API version request: "${requested}"`, 400);
  }
  if (cmp(requested, MIN_VERSION) < 0 || cmp(requested, MAX_VERSION) > 0) {
    throw new HttpException(`Version ${requested} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`, 406);
  }
  return requested;
}

export function microversionMiddleware(req: Request, res: Response, next: NextFunction): void {
  const header = req.header('openstack-api-version');
  const fromStandard = header
    ?.split(',')
    .map((part) => part.trim().split(/\s+/))
    .find(([service]) => service?.toLowerCase() === 'compute')?.[1];
  try {
    const version = negotiate(fromStandard ?? req.header('x-openstack-nova-api-version') ?? undefined);
    res.setHeader('OpenStack-API-Version', `compute ${version}`);
    res.setHeader('X-OpenStack-Nova-API-Version', version);
    res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    next();
  } catch (error) {
    next(error);
  }
}
