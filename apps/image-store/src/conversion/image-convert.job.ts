/**
 * The `image.convert` job: `qemu-img convert` of the source image's file into the staging area,
 * then stored exactly like an upload (hashed, inspected, committed under its sha256) and the target
 * image made active. Any failure leaves no file and the target `killed`; the reason stays in the
 * job (failedReason), which is what GET /nubo/v1/images/{id}/conversion reports. Conversions are
 * not retried: the owner asks again.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ImageConvertJob, ImageStatus } from '@nubo/contracts';
import { ImageEntity } from '@nubo/database';
import { UnrecoverableError } from '@nubo/jobs';
import type { Job } from 'bullmq';
import { rm } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { IMAGE_CONFIG, ImageConfig } from '../config';
import { ImageFiles } from '../images/image-files';
import { inspectImageFile } from '../inspection/image-inspection';
import { IMAGE_STORAGE } from '../storage/image-storage.token';
import { ImageStorage } from '../storage/image-storage';
import { ConvertLimits, runQemuImgConvert } from './qemu-img-convert';

@Injectable()
export class ImageConvertJobHandler {
  private readonly logger = new Logger(ImageConvertJobHandler.name);
  private readonly limits: ConvertLimits;
  /** Conversions in flight, so that a shutdown can stop their qemu-img. */
  private readonly running = new Set<AbortController>();

  constructor(
    @Inject(IMAGE_CONFIG) private readonly config: ImageConfig,
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(IMAGE_STORAGE) private readonly storage: ImageStorage,
    @Inject(ImageFiles) private readonly files: ImageFiles,
  ) {
    this.limits = {
      cpuSeconds: config.NUBO_IMAGE_CONVERT_CPU_S,
      addressSpaceBytes: 2 * 1024 ** 3,
      timeoutMs: config.NUBO_IMAGE_CONVERT_TIMEOUT_S * 1000,
    };
  }

  async run(payload: ImageConvertJob, job: Job<ImageConvertJob>): Promise<'done'> {
    const { imageId, sourceImageId, requestId } = payload;
    const target = this.storage.stagingPath('.convert');
    const abort = new AbortController();
    this.running.add(abort);
    try {
      await this.begin(payload);
      const progress = progressReporter(job);
      await runQemuImgConvert(
        { source: await this.sourcePath(sourceImageId), sourceFormat: payload.sourceFormat, target, targetFormat: payload.diskFormat, compress: payload.compress },
        this.limits,
        progress.report,
        abort.signal,
      );
      await progress.flushed();
      const staged = await this.storage.stageFile(target, { maxBytes: this.config.NUBO_IMAGE_MAX_BYTES });
      const { virtualSize } = await inspectImageFile(staged.path, payload.diskFormat, staged.size, {
        maxVirtualBytes: this.config.NUBO_IMAGE_MAX_VIRTUAL_BYTES,
      });
      if (!(await this.files.activate(imageId, staged, { virtualSize }))) throw new Error(`image ${imageId} was deleted during the conversion`);
      await job.updateProgress(100);
      this.logger.log(`image ${imageId} converted from ${sourceImageId} to ${payload.diskFormat}: ${staged.size} bytes requestId=${requestId}`);
      return 'done';
    } catch (error) {
      await rm(target, { force: true });
      await this.db.query(`UPDATE image.images SET status = 'killed', updated_at = now() WHERE id = $1 AND status IN ('queued', 'saving')`, [imageId]);
      this.logger.warn(`conversion of image ${sourceImageId} into ${imageId} failed requestId=${requestId}: ${(error as Error).message}`);
      throw new UnrecoverableError((error as Error).message);
    } finally {
      this.running.delete(abort);
    }
  }

  /** Stops every conversion in flight (their images end killed). */
  abortAll(): void {
    for (const abort of this.running) abort.abort();
  }

  /** queued -> saving, so that no upload writes the image meanwhile ('saving' again: a re-run after a crash). */
  private async begin({ imageId }: ImageConvertJob): Promise<void> {
    const [rows] = (await this.db.query(
      `UPDATE image.images SET status = 'saving', updated_at = now()
        WHERE id = $1 AND status IN ('queued', 'saving') AND deleted_at IS NULL RETURNING id`,
      [imageId],
    )) as [unknown[], number];
    if (rows.length === 0) throw new Error(`image ${imageId} is no longer queued (deleted, or given data meanwhile)`);
  }

  private async sourcePath(sourceImageId: string): Promise<string> {
    const source = await this.db.getRepository(ImageEntity).findOneBy({ id: sourceImageId });
    if (!source || source.deletedAt || source.status !== ImageStatus.Active || !source.fileKey) {
      throw new Error(`source image ${sourceImageId} is no longer active`);
    }
    return this.storage.localPath(source.fileKey);
  }
}

/** Whole percentages into the job, in order, one write at a time. */
function progressReporter(job: Job<ImageConvertJob>): { report: (percent: number) => void; flushed: () => Promise<void> } {
  let last = -1;
  let chain = Promise.resolve();
  return {
    report: (percent) => {
      const whole = Math.floor(percent);
      if (whole <= last) return;
      last = whole;
      // The file is not stored yet: 100 is written once it is.
      const shown = Math.min(whole, 99);
      chain = chain.then(() => job.updateProgress(shown)).catch(() => undefined);
    },
    flushed: () => chain,
  };
}
