/**
 * Nubo's image conversion (Glance has no such call): a new private image of the same owner is
 * created `queued` and the `image.convert` job (id `image.convert-<new image id>`) fills it. The
 * job is the record of the conversion: its state, progress and failure reason are read back from
 * BullMQ, which keeps it 7 days.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ForbiddenError,
  ImageCaller,
  ImageConversionRecord,
  ImageConversionStatus,
  ImageConvertReply,
  ImageStatus,
  NotFoundError,
  TimeoutError,
  imageJobId,
} from '@nubo/contracts';
import { ImageEntity } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { IMAGE_CONFIG, ImageConfig } from '../config';
import { canModify } from '../images/image-access';
import { ImagesService } from '../images/images.service';
import { parseConvertRequest } from './convert-request';
import { IMAGE_JOB_QUEUE, ImageJobQueue } from './image-jobs.token';

const KEEP_S = 7 * 24 * 3600;

/** BullMQ's job state as a conversion status. */
export function conversionStatus(state: string): ImageConversionStatus {
  if (state === 'completed') return 'done';
  if (state === 'failed') return 'failed';
  if (state === 'active') return 'running';
  return 'queued';
}

@Injectable()
export class ImageConversionService {
  private readonly logger = new Logger(ImageConversionService.name);

  constructor(
    @Inject(IMAGE_CONFIG) private readonly config: ImageConfig,
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ImagesService) private readonly images: ImagesService,
    @Inject(IMAGE_JOB_QUEUE) private readonly queue: ImageJobQueue,
  ) {}

  async convert(caller: ImageCaller, imageId: string, body: unknown, requestId: string): Promise<ImageConvertReply> {
    const source = await this.images.find(imageId, caller);
    if (!canModify(source, caller)) throw new ForbiddenError(`You are not permitted to convert image ${source.id}.`);
    const order = parseConvertRequest(body, source, { maxBytes: this.config.NUBO_IMAGE_MAX_BYTES });
    const id = randomUUID();
    await this.db.getRepository(ImageEntity).insert({
      id,
      projectId: source.projectId,
      name: order.name,
      status: ImageStatus.Queued,
      visibility: 'private',
      diskFormat: order.diskFormat,
      containerFormat: 'bare',
      minDisk: source.minDisk,
      minRam: source.minRam,
      properties: { ...(source.properties ?? {}) },
    });
    const jobId = imageJobId('image.convert', id);
    try {
      await this.queue.enqueue(
        'image.convert',
        { imageId: id, sourceImageId: source.id, sourceFormat: order.sourceFormat, diskFormat: order.diskFormat, compress: order.compress, requestId },
        { jobId, attempts: 1, removeOnComplete: { age: KEEP_S } },
      );
    } catch (error) {
      // Nothing half-made: without its job the new image would stay queued for ever.
      await this.db.query('DELETE FROM image.images WHERE id = $1', [id]);
      this.logger.warn(`could not enqueue the conversion of image ${source.id} requestId=${requestId}: ${(error as Error).message}`);
      throw new TimeoutError('The image job queue is not available; try again later.', { imageId: source.id });
    }
    this.logger.log(`image ${source.id} to be converted to ${order.diskFormat} as image ${id} requestId=${requestId}`);
    return { image: { id, status: ImageStatus.Queued }, job: { id: jobId } };
  }

  /** The conversion that fills image `imageId` (which the caller must see). */
  async conversion(caller: ImageCaller, imageId: string): Promise<ImageConversionRecord> {
    const image = await this.images.find(imageId, caller);
    const job = await this.queue.inspect(imageJobId('image.convert', image.id));
    if (!job) throw new NotFoundError(`No conversion found for image ${image.id}.`);
    const status = conversionStatus(job.state);
    const progress = status === 'done' ? 100 : typeof job.progress === 'number' ? Math.max(0, Math.min(100, Math.floor(job.progress))) : 0;
    return {
      imageId: image.id,
      sourceImageId: job.data.sourceImageId,
      status,
      progress,
      error: status === 'failed' ? (job.failedReason ?? 'the conversion failed') : null,
    };
  }
}
