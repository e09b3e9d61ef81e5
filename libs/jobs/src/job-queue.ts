/**
 * BullMQ behind a typed seam: producers enqueue by job name with the payload the contract gives
 * it; workers must bring a handler for every job name or they refuse to start.
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

export const DEFAULT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

function redis(url: string, forWorker: boolean): IORedis {
  // Workers block on Redis: BullMQ requires maxRetriesPerRequest null for them.
  return new IORedis(url, { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true, lazyConnect: false });
}

export class JobQueue {
  private readonly queue: Queue;
  private readonly connection: IORedis;

  constructor(options: QueueOptions) {
    this.connection = redis(options.redisUrl, false);
    this.queue = new Queue(QUEUES.workflows, { connection: this.connection, prefix: options.prefix });
  }

  /** Adds a job; a second add with the same jobId is a no-op in BullMQ, which makes retries safe. */
  async enqueue<N extends JobName>(name: N, payload: JobPayloads[N], options: { jobId: string }): Promise<void> {
    await this.queue.add(name, payload, { ...DEFAULT_JOB_OPTIONS, jobId: options.jobId });
  }

  async ping(): Promise<boolean> {
    return (await this.connection.ping()) === 'PONG';
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

export class JobWorker {
  private readonly logger = new Logger(JobWorker.name);
  private worker?: Worker;
  private connection?: IORedis;

  constructor(private readonly options: QueueOptions & { concurrency: number }, private readonly handlers: JobHandlers) {
    const missing = JOB_NAMES.filter((name) => typeof handlers[name] !== 'function');
    if (missing.length) throw new Error(`no handler for job(s): ${missing.join(', ')}`);
  }

  start(): void {
    this.connection = redis(this.options.redisUrl, true);
    this.worker = new Worker(QUEUES.workflows, (job) => this.run(job), {
      connection: this.connection,
      prefix: this.options.prefix,
      concurrency: this.options.concurrency,
      // A worker that dies mid-job leaves it stalled; another picks it up and resumes from PostgreSQL.
      stalledInterval: 5_000,
      lockDuration: 30_000,
    });
    this.worker.on('failed', (job, error) =>
      this.logger.warn(`job ${job?.name} ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`),
    );
  }

  private async run(job: Job): Promise<JobOutcome> {
    const handler = this.handlers[job.name as JobName] as JobHandler<JobName> | undefined;
    if (!handler) throw new UnrecoverableError(`unknown job ${job.name}`);
    const outcome = await handler(job.data, job);
    this.logger.log(`job ${job.name} ${job.id} ${outcome} requestId=${job.data.requestId}`);
    return outcome;
  }

  async close(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
  }
}
