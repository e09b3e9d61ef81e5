/** Gives every request an id (OpenStack's req-<uuid>), echoed in x-openstack-request-id. */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = `req-${randomUUID()}`;
  (req as Request & { requestId: string }).requestId = id;
  res.setHeader('x-openstack-request-id', id);
  if (req.path.startsWith('/compute')) res.setHeader('x-compute-request-id', id);
  next();
}
