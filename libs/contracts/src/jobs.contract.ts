/** BullMQ job contracts: queue and job names with their payloads. v1. */
import type { ServerInterfaceJob } from './interface-attach.contract';
/**
 * `workflows` is the scheduler's (every job name in JOB_NAMES must have a handler there);
 * `images` is the image store's, with its own job names (IMAGE_JOB_NAMES).
 */
export const QUEUES = { workflows: 'nubo-workflows', images: 'nubo-images' } as const;

export interface ServerJob {
  serverId: string;
  requestId: string;
}

/** Power actions, by Nova's instance-action names. */
export type ServerAction = 'stop' | 'start' | 'reboot' | 'pause' | 'unpause' | 'suspend' | 'resume';

export interface ServerActionJob extends ServerJob {
  action: ServerAction;
  rebootType?: 'SOFT' | 'HARD';
}

/** Nova's createImage: the disk of the server goes into the queued image `imageId`. */
export interface ServerSnapshotJob extends ServerJob {
  imageId: string;
}

/**
 * Nova's rebuild: the API already wrote the new image (and name, metadata) and task state
 * `rebuilding`; the job recreates the root disk on the server's host.
 */
export interface ServerRebuildJob extends ServerJob {
  preserveEphemeral: boolean;
}

/** Nova's resize, confirmResize and revertResize of the migration record `migrationId`. */
export interface ServerResizeJob extends ServerJob {
  migrationId: string;
  step: 'resize' | 'confirm' | 'revert';
}

/**
 * Nova's os-migrateLive of the migration record `migrationId` (a live migration): every step is
 * persisted in the record, so a retried or re-run job resumes where the record says.
 */
export interface ServerLiveMigrateJob extends ServerJob {
  migrationId: string;
}

/**
 * Nova's migrate (a cold migration) of the migration record `migrationId`: every step is persisted
 * in the record, so a retried or re-run job resumes where the record says.
 */
export interface ServerColdMigrateJob extends ServerJob {
  migrationId: string;
}

/**
 * Nova's evacuate of the migration record `migrationId` (an evacuation: the server's host is down,
 * it is rebuilt on another one): every step is persisted in the record, so a re-run resumes.
 */
export interface ServerEvacuateJob extends ServerJob {
  migrationId: string;
}

export interface JobPayloads {
  /** Nova's os-interface attach/detach (interface-attach.contract.ts). */
  'server.interface': ServerInterfaceJob;
  'server.create': ServerJob;
  'server.delete': ServerJob;
  'server.action': ServerActionJob;
  'server.snapshot': ServerSnapshotJob;
  'server.rebuild': ServerRebuildJob;
  'server.resize': ServerResizeJob;
  'server.live-migrate': ServerLiveMigrateJob;
  'server.cold-migrate': ServerColdMigrateJob;
  'server.evacuate': ServerEvacuateJob;
}
export type JobName = keyof JobPayloads;
export const JOB_NAMES: JobName[] = ['server.create', 'server.delete', 'server.action', 'server.snapshot', 'server.rebuild', 'server.resize', 'server.interface', 'server.live-migrate', 'server.cold-migrate', 'server.evacuate'];

/**
 * Job ids make enqueueing idempotent: one create and one delete per server, one action job per
 * API request (the request id tells a retry of the job from a new request).
 */
export const jobId = (name: JobName, serverId: string, requestId?: string) =>
  requestId ? `${name}-${serverId}-${requestId}` : `${name}-${serverId}`;

/**
 * Image-store jobs (queue `images`), kept apart from the scheduler's JOB_NAMES. v1: image.convert
 * writes the converted bytes of `sourceImageId` into the queued image `imageId`.
 */
export interface ImageConvertJob {
  imageId: string;
  sourceImageId: string;
  /** qemu-img's input format, as the source image was inspected. */
  sourceFormat: 'raw' | 'qcow2';
  diskFormat: 'raw' | 'qcow2';
  /** qcow2 only: compressed clusters (`qemu-img convert -c`). */
  compress: boolean;
  requestId: string;
}

export interface ImageJobPayloads {
  'image.convert': ImageConvertJob;
}
export type ImageJobName = keyof ImageJobPayloads;
export const IMAGE_JOB_NAMES: ImageJobName[] = ['image.convert'];

/** One conversion per target image: `image.convert-<new image id>`. */
export const imageJobId = (name: ImageJobName, imageId: string) => `${name}-${imageId}`;
