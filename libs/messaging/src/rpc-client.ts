/**
 * Typed request/reply and events over Nest's NATS client. `send()` is cold, so every call is
 * subscribed through firstValueFrom with a timeout; errors come back as domain errors.
 */
import { Logger } from '@nestjs/common';
import { ClientNats, NatsRecordBuilder } from '@nestjs/microservices';
import { EmptyResponseException } from '@nestjs/microservices/errors/empty-response.exception';
import {
  EventContract,
  NuboError,
  REQUEST_ID_HEADER,
  ReplyOf,
  RequestOf,
  RpcContract,
  TimeoutError,
  fromWire,
} from '@nubo/contracts';
import { headers as natsHeaders } from 'nats';
import { TimeoutError as RxTimeoutError, firstValueFrom, timeout } from 'rxjs';
import { NatsConnectionOptions, natsTransportOptions } from './nats-options';

export interface CallContext {
  requestId: string;
  /** Overrides the contract's timeout. */
  timeoutMs?: number;
}

export class RpcClient {
  private readonly logger = new Logger(RpcClient.name);
  private readonly client: ClientNats;

  constructor(options: NatsConnectionOptions) {
    this.client = new ClientNats(natsTransportOptions(options));
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async call<C extends RpcContract<any, any>>(
    subject: string,
    contract: C,
    request: RequestOf<C>,
    ctx: CallContext,
  ): Promise<ReplyOf<C>> {
    const timeoutMs = ctx.timeoutMs ?? contract.timeoutMs;
    const record = new NatsRecordBuilder(request).setHeaders(this.headers(ctx.requestId)).build();
    this.logger.debug(`rpc ${subject} requestId=${ctx.requestId}`);
    try {
      return await firstValueFrom(this.client.send<ReplyOf<C>>(subject, record).pipe(timeout(timeoutMs)));
    } catch (error) {
      if (error instanceof RxTimeoutError) {
        throw new TimeoutError(`no reply from ${subject} within ${timeoutMs} ms`, { subject });
      }
      if (error instanceof NuboError) throw error;
      if (isNoResponders(error)) {
        throw new TimeoutError(`nobody serves ${subject}`, { subject, noResponders: true });
      }
      throw fromWire(error);
    }
  }

  /** Fire-and-forget event; core NATS is at-most-once, so events only speed up reconciliation. */
  emit<P>(subject: string, _contract: EventContract<P>, payload: P, ctx: { requestId: string }): void {
    const record = new NatsRecordBuilder(payload).setHeaders(this.headers(ctx.requestId)).build();
    this.client.emit(subject, record).subscribe({
      error: (error: Error) => this.logger.warn(`event ${subject} not sent: ${error.message}`),
    });
  }

  private headers(requestId: string) {
    const h = natsHeaders();
    h.set(REQUEST_ID_HEADER, requestId);
    return h;
  }
}

/** NATS answers a request nobody subscribes to with 503, which Nest turns into this exception. */
function isNoResponders(error: unknown): boolean {
  return error instanceof EmptyResponseException;
}
