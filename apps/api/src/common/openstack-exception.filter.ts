/** Every error leaves the API here, as an OpenStack-shaped body with the request id header. */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { NuboError } from '@nubo/contracts';
import type { Request, Response } from 'express';
import { errorBody, statusOf } from './error-map';

@Catch()
export class OpenStackExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(OpenStackExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const { status, message } = this.describe(exception, req.path);
    if (status >= 500) {
      this.logger.error(`${req.method} ${req.path} -> ${status} requestId=${res.getHeader('x-openstack-request-id')}: ${
        exception instanceof Error ? exception.stack : String(exception)}`);
    }
    if (status === 401) res.setHeader('WWW-Authenticate', 'Keystone uri="' + req.protocol + '://' + req.get('host') + '/identity"');
    res.status(status).json(errorBody(req.path, status, message));
  }

  private describe(exception: unknown, path: string): { status: number; message: string } {
    if (exception instanceof NuboError) return { status: statusOf(exception.code, path), message: exception.message };
    if (exception instanceof HttpException) {
      const body = exception.getResponse();
      const message = typeof body === 'string' ? body : String((body as { message?: unknown }).message ?? exception.message);
      return { status: exception.getStatus(), message };
    }
    // body-parser: malformed JSON, or too large
    const e = exception as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.too.large') return { status: 413, message: 'Request body is too large' };
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, message: e.message ?? 'Bad request' };
    return { status: 500, message: 'An unexpected error prevented the server from fulfilling your request.' };
  }
}
