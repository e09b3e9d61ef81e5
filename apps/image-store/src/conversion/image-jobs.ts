/**
 * The image store's BullMQ queue (QUEUES.images), apart from the scheduler's workflows: the store
 * enqueues its own jobs (from its NATS handlers) and runs them. Every replica runs a worker.
 */
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { IMAGE_JOB_NAMES, ImageJobPayloads, QUEUES } from '@nubo/contracts';
import { TypedJobQueue, TypedJobWorker } from '@nubo/jobs';
import { IMAGE_CONFIG, ImageConfig } from '../config';
import { ImageConvertJobHandler } from './image-convert.job';
import { IMAGE_JOB_QUEUE, ImageJobQueue } from './image-jobs.token';

export const imageJobsPrefix = (config: Pick<ImageConfig, 'NUBO_CLOUD_NAME'>) => `bull-${config.NUBO_CLOUD_NAME}`;

export function createImageJobQueue(config: ImageConfig): ImageJobQueue {
  return new TypedJobQueue<ImageJobPayloads>(QUEUES.images, { redisUrl: config.NUBO_REDIS_URL, prefix: imageJobsPrefix(config) });
}

/** Starts the worker once every handler exists; closes worker and queue on shutdown. */
@Injectable()
export class ImageJobsRunner implements OnModuleInit, OnApplicationShutdown {
  private worker?: TypedJobWorker<ImageJobPayloads>;

  constructor(
    @Inject(IMAGE_CONFIG) private readonly config: ImageConfig,
    @Inject(IMAGE_JOB_QUEUE) private readonly queue: ImageJobQueue,
    @Inject(ImageConvertJobHandler) private readonly convert: ImageConvertJobHandler,
  ) {}

  onModuleInit(): void {
    this.worker = new TypedJobWorker<ImageJobPayloads>(
      QUEUES.images,
      IMAGE_JOB_NAMES,
      { redisUrl: this.config.NUBO_REDIS_URL, prefix: imageJobsPrefix(this.config), concurrency: this.config.NUBO_IMAGE_CONVERT_CONCURRENCY },
      { 'image.convert': (payload, job) => this.convert.run(payload, job) },
    );
    this.worker.start();
  }

  async onApplicationShutdown(): Promise<void> {
    // A conversion can run for many minutes: stop it (its image ends killed) rather than wait.
    this.convert.abortAll();
    await this.worker?.close();
    await this.queue.close();
  }
}
