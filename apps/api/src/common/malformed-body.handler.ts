/** Turns body-parser failures into domain errors so the exception filter answers them in shape. */
import { ValidationError } from '@nubo/contracts';
import type { NextFunction, Request, Response } from 'express';

export function malformedBodyHandler(error: unknown, _req: Request, _res: Response, next: NextFunction): void {
  const e = error as { type?: string; message?: string };
  if (e?.type === 'entity.parse.failed') {
    next(new ValidationError(`Malformed request body: ${e.message}`, 'body'));
    return;
  }
  next(error);
}
