/**
 * Evacuation as a service for the scheduler's own callers (the automatic failover controller):
 * `evacuate(serverId, { reason })` checks as Nova's evacuate does (the server's host must be down),
 * writes the evacuation record with the server's task state `rebuilding`, and enqueues
 * `server.evacuate`. Idempotent: one open evacuation per server; asking again returns it and
 * enqueues its job again (the same job id: BullMQ keeps one).
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import { TimeoutError, jobId } from '@nubo/contracts';
import { abandonEvacuation, requestEvacuation } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';

export interface EvacuateOptions {
  /** Why (kept on the record): "host h1 failed", an operator's note. */
  reason: string;
  /** A host to rebuild on (checked by every filter unless `force`). */
  requestedHost?: string;
  /** Nova's `force`: the requested host's capacity only, no filter. */
  force?: boolean;
  requestId?: string;
  /** Who asks, for the instance action (default: the failover controller). */
  userId?: string;
}

export interface EvacuationTicket {
  migrationId: string;
  /** False when the server already had an open evacuation (this call only made sure its job is queued). */
  created: boolean;
}

/** What the service needs of the queue (tests pass a fake). */
export type EvacuationQueue = Pick<JobQueue, 'enqueue'>;
export const EVACUATION_QUEUE = Symbol('EVACUATION_QUEUE');

@Injectable()
export class EvacuationService implements OnApplicationShutdown {
  private readonly logger = new Logger(EvacuationService.name);
  private owned?: JobQueue;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Optional() @Inject(SCHEDULER_CONFIG) private readonly config?: Pick<SchedulerConfig, 'NUBO_REDIS_URL' | 'NUBO_CLOUD_NAME'>,
    @Optional() @Inject(EVACUATION_QUEUE) private readonly queue?: EvacuationQueue,
  ) {}

  async evacuate(serverId: string, o: EvacuateOptions): Promise<EvacuationTicket> {
    const requestId = o.requestId ?? `req-evacuate-${randomUUID()}`;
    const { record, created } = await requestEvacuation(this.db, {
      id: randomUUID(),
      serverId,
      requestedHost: o.requestedHost ?? null,
      force: o.force === true,
      reason: o.reason,
      userId: o.userId ?? 'nubo-failover',
      requestId,
      reuseOpen: true,
    });
    try {
      await this.jobs().enqueue(
        'server.evacuate',
        { serverId, requestId: record.requestId, migrationId: record.id },
        { jobId: jobId('server.evacuate', serverId, record.id) },
      );
    } catch (error) {
      if (created) await abandonEvacuation(this.db, record, `not queued: ${(error as Error).message}`);
      throw new TimeoutError(`The job queue is unavailable; the evacuation of ${serverId} was not started. Try again.`);
    }
    if (created) this.logger.log(`evacuation of server ${serverId} from ${record.sourceHost} queued migrationId=${record.id} reason=${o.reason}`);
    return { migrationId: record.id, created };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.owned?.close();
  }

  private jobs(): EvacuationQueue {
    if (this.queue) return this.queue;
    if (!this.config) throw new Error('EvacuationService has neither a queue nor the scheduler config');
    this.owned ??= new JobQueue({ redisUrl: this.config.NUBO_REDIS_URL, prefix: `bull-${this.config.NUBO_CLOUD_NAME}` });
    return this.owned;
  }
}
