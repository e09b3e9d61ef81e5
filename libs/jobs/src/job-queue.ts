/**
 * BullMQ behind a typed seam: producers enqueue by job name with the payload the contract gives
 * it; workers must bring a handler for every job name or they refuse to start.
 *
 * `TypedJobQueue` / `TypedJobWorker` work on any queue with its own payload map; `JobQueue` and
 * `JobWorker` are the scheduler's workflow queue (QUEUES.workflows, JOB_NAMES).
 */
import { Logger } from '@nestjs/common';
import { JOB_NAMES, JobName, JobPayloads, QUEUES } from '@nubo/contracts';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import IORedis from 'ioredis';

export { UnrecoverableError };

export interface QueueOptions {
  redisUrl: string;
  /** Key prefix, one per cloud sharing a Redis. */
  prefix: string;
}

/** What a handler returns: a word for the job's result (expected skips are results, not errors). */
export type JobOutcome = 'done' | 'skipped' | 'failed';
export type JobHandler<N extends JobName> = (payload: JobPayloads[N], job: Job<JobPayloads[N]>) => Promise<JobOutcome>;
export type JobHandlers = { [N in JobName]: JobHandler<N> };

/** A handler map for any queue's payload map `P`. */
export type TypedJobHandlers<P> = { [N in keyof P]: (payload: P[N], job: Job<P[N]>) => Promise<JobOutcome> };

export const DEFAULT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Per-enqueue overrides of DEFAULT_JOB_OPTIONS. */
export interface EnqueueOptions {
  jobId: string;
  attempts?: number;
  removeOnComplete?: { age: number; count?: number };
}

/** What a producer may read back of a job. */
export interface JobSnapshot<D> {
  id: string;
  name: string;
  data: D;
  /** BullMQ's state: waiting, delayed, prioritized, active, completed, failed, ... */
  state: string;
  progress: unknown;
  failedReason: string | null;
}

function redis(url: string, forWorker: boolean): IORedis {
  // Workers block on Redis: BullMQ requires maxRetriesPerRequest null for them.
  return new IORedis(url, { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true, lazyConnect: false });
}

export class TypedJobQueue<P extends object> {
  private readonly queue: Queue;
  private readonly connection: IORedis;

  constructor(queueName: string, options: QueueOptions) {
    this.connection = redis(options.redisUrl, false);
    this.queue = new Queue(queueName, { connection: this.connection, prefix: options.prefix });
  }

  /** Adds a job; a second add with the same jobId is a no-op in BullMQ, which makes retries safe. */
  async enqueue<N extends keyof P & string>(name: N, payload: P[N], options: EnqueueOptions): Promise<void> {
    const overrides = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    await this.queue.add(name, payload, { ...DEFAULT_JOB_OPTIONS, ...overrides });
  }

  /** The job `jobId`, or null when there is none (never added, or removed after its retention). */
  async inspect(jobId: string): Promise<JobSnapshot<P[keyof P]> | null> {
    const job = await this.queue.getJob(jobId);
    if (!job) return null;
    return {
      id: String(job.id),
      name: job.name,
      data: job.data as P[keyof P],
      state: await job.getState(),
      progress: job.progress,
      failedReason: job.failedReason ?? null,
    };
  }

  async ping(): Promise<boolean> {
    return (await this.connection.ping()) === 'PONG';
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

/**
 * How soon a dead worker's jobs run elsewhere: a job's lock (renewed every lockDurationMs / 2 while
 * its worker lives) must expire, then a stalled check (every stalledIntervalMs, on any worker)
 * finds it, so a killed worker's jobs resume within about lockDurationMs + stalledIntervalMs.
 * Shorter locks risk a live worker whose event loop stalls for lockDurationMs / 2 losing its job
 * to another (handlers must be resumable anyway). Defaults: 30 s and 5 s.
 */
export interface WorkerLockOptions {
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export class TypedJobWorker<P extends object> {
  private readonly logger = new Logger(this.constructor.name);
  private worker?: Worker;
  private connection?: IORedis;

  constructor(
    private readonly queueName: string,
    jobNames: ReadonlyArray<keyof P & string>,
    private readonly options: QueueOptions & { concurrency: number } & WorkerLockOptions,
    private readonly handlers: TypedJobHandlers<P>,
  ) {
    const missing = jobNames.filter((name) => typeof handlers[name] !== 'function');
    if (missing.length) throw new Error(`no handler for job(s): ${missing.join(', ')}`);
  }

  start(): void {
    this.connection = redis(this.options.redisUrl, true);
    this.worker = new Worker(this.queueName, (job) => this.run(job), {
      connection: this.connection,
      prefix: this.options.prefix,
      concurrency: this.options.concurrency,
      // A worker that dies mid-job leaves it stalled; another picks it up and resumes from PostgreSQL.
      stalledInterval: this.options.stalledIntervalMs ?? 5_000,
      lockDuration: this.options.lockDurationMs ?? 30_000,
    });
    this.worker.on('failed', (job, error) =>
      this.logger.warn(`job ${job?.name} ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`),
    );
  }

  private async run(job: Job): Promise<JobOutcome> {
    const handler = (this.handlers as Record<string, TypedJobHandlers<P>[keyof P] | undefined>)[job.name];
    if (typeof handler !== 'function') throw new UnrecoverableError(`unknown job ${job.name}`);
    const outcome = await (handler as (payload: unknown, job: Job) => Promise<JobOutcome>)(job.data, job);
    this.logger.log(`job ${job.name} ${job.id} ${outcome} requestId=${(job.data as { requestId?: string }).requestId}`);
    return outcome;
  }

  async close(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
  }
}

/** The scheduler's workflow queue, as producers (the api) see it. */
export class JobQueue extends TypedJobQueue<JobPayloads> {
  constructor(options: QueueOptions) {
    super(QUEUES.workflows, options);
  }
}

/** The scheduler's workflow worker: refuses to start without a handler for every JOB_NAMES entry. */
export class JobWorker extends TypedJobWorker<JobPayloads> {
  constructor(options: QueueOptions & { concurrency: number } & WorkerLockOptions, handlers: JobHandlers) {
    super(QUEUES.workflows, JOB_NAMES, options, handlers);
  }
}
