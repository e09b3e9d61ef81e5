/** Nest injection token of the image store's job queue (QUEUES.images). */
import type { ImageJobPayloads } from '@nubo/contracts';
import type { TypedJobQueue } from '@nubo/jobs';

export const IMAGE_JOB_QUEUE = Symbol('IMAGE_JOB_QUEUE');
export type ImageJobQueue = TypedJobQueue<ImageJobPayloads>;
