/**
 * Registers typed handlers on Nest's NATS server strategy at boot, from validated config, so
 * per-host subjects (agent.<hostId>.*) never come from process.env inside decorators.
 * Handlers return a promise; a thrown domain error reaches the caller as {code, message, details}.
 */
import { Logger } from '@nestjs/common';
import { NatsContext, ServerNats } from '@nestjs/microservices';
import {
  EventContract,
  InternalError,
  NuboError,
  REQUEST_ID_HEADER,
  ReplyOf,
  RequestOf,
  RpcContract,
} from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { Observable, of, throwError } from 'rxjs';
import { NatsConnectionOptions, natsTransportOptions } from './nats-options';

export interface HandlerContext {
  requestId: string;
  subject: string;
}

export class RpcServer extends ServerNats {
  private readonly log = new Logger(RpcServer.name);

  constructor(options: NatsConnectionOptions) {
    super(natsTransportOptions(options));
  }

  handle<C extends RpcContract<any, any>>(
    subject: string,
    _contract: C,
    handler: (request: RequestOf<C>, ctx: HandlerContext) => Promise<ReplyOf<C>>,
  ): void {
    this.addHandler(subject, async (data: RequestOf<C>, natsCtx: NatsContext): Promise<Observable<unknown>> => {
      const ctx = contextOf(natsCtx);
      try {
        return of(await handler(data, ctx));
      } catch (error) {
        const wire = error instanceof NuboError ? error.toWire() : new InternalError((error as Error).message).toWire();
        if (!(error instanceof NuboError)) {
          this.log.error(`${subject} failed requestId=${ctx.requestId}: ${(error as Error).stack ?? error}`);
        }
        return throwError(() => wire);
      }
    });
  }

  /** Event handlers never answer; their errors are logged here and go nowhere else. */
  onEvent<P>(subject: string, _contract: EventContract<P>, handler: (payload: P, ctx: HandlerContext) => Promise<void>): void {
    this.addHandler(
      subject,
      async (data: P, natsCtx: NatsContext) => {
        const ctx = contextOf(natsCtx);
        try {
          await handler(data, ctx);
        } catch (error) {
          this.log.error(`event ${ctx.subject} failed requestId=${ctx.requestId}: ${(error as Error).message}`);
        }
      },
      true,
    );
  }
}

function contextOf(natsCtx: NatsContext): HandlerContext {
  const headers = natsCtx.getHeaders() as { get(k: string): string } | undefined;
  return { requestId: headers?.get(REQUEST_ID_HEADER) || `req-${randomUUID()}`, subject: natsCtx.getSubject() };
}
